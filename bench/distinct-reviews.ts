/**
 * What a cluster sends the webhook, for the synthetic admission benchmark: distinct UPDATE
 * reviews made from one captured v1.36 body (with its managedFields and oldObject), each with
 * its own uid, name and declared max, so that no two requests are the same review and the
 * answer cache sees what it would see in a cluster.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const UPDATE = fileURLToPath(new URL('../../test/fixtures/admission/v1.36/scaledobject-update.kubectl-annotate.json', import.meta.url));
const POLICY = '{"carbon":[{"measuredEmission":0,"allowedMaxReplicaCount":"50%"}]}';

interface Obj {
  metadata: { name: string; uid?: string; annotations?: Record<string, string> };
  spec: { maxReplicaCount?: number };
}

function named(o: Obj, name: string, max: number): Obj {
  return {
    ...o,
    metadata: { ...o.metadata, name, annotations: { ...o.metadata.annotations, 'keda-carbon.io/environmental-impact': POLICY } },
    spec: { ...o.spec, maxReplicaCount: max },
  };
}

/** `count` request bodies: object i is `so-i` with max 10 + i % 40, its old object one lower. */
export function distinctReviews(count: number): string[] {
  const review = JSON.parse(readFileSync(UPDATE, 'utf8')) as { request: { uid: string; name: string; object: Obj; oldObject: Obj } };
  return Array.from({ length: count }, (_, i) => {
    const max = 10 + (i % 40);
    const name = `so-${i}`;
    const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    return JSON.stringify({
      ...review,
      request: { ...review.request, uid, name, object: named(review.request.object, name, max), oldObject: named(review.request.oldObject, name, max - 1) },
    });
  });
}
