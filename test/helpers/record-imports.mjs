// Preloaded with `node --import` on serve's command line by the test that checks which
// modules serve loads: it registers resolve hooks that append every resolved URL to the file
// named by KEDA_CARBON_TEST_IMPORTS.
import { register } from 'node:module';

register(new URL('./record-imports-hooks.mjs', import.meta.url));
