{{/* The name every object is named from: the release name, or "<release>-keda-carbon". */}}
{{- define "keda-carbon.fullname" -}}
{{- if contains "keda-carbon" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-keda-carbon" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The re-touch controller's Lease: one per release, so two releases in one namespace each elect
a leader of their own. For the release "keda-carbon" it is the plain install's name.
*/}}
{{- define "keda-carbon.leaseName" -}}
{{- printf "%s-retouch" (include "keda-carbon.fullname" .) -}}
{{- end -}}

{{- define "keda-carbon.selectorLabels" -}}
app.kubernetes.io/name: keda-carbon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/* The standard labels, on every object. */}}
{{- define "keda-carbon.labels" -}}
app.kubernetes.io/name: keda-carbon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keda-carbon
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "keda-carbon.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the serving certificate in every mode. */}}
{{- define "keda-carbon.tlsSecret" -}}
{{- if eq .Values.certificates.mode "external" -}}
{{- required "certificates.secretName is required with certificates.mode external" .Values.certificates.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "keda-carbon.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "keda-carbon.serviceAccountSubject" -}}
- kind: ServiceAccount
  name: {{ include "keda-carbon.fullname" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{/* policy/v1 where the cluster serves it (1.21+), policy/v1beta1 before. */}}
{{- define "keda-carbon.pdbApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{/* Annotations of the pre-delete restore hook's objects; the argument is the hook weight. */}}
{{- define "keda-carbon.restoreHook" -}}
helm.sh/hook: pre-delete
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}
