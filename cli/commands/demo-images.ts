/**
 * The images `meshctl demo` builds (cli/dev/images.ts) and serves from its registry in the dev
 * cluster; stack-examples/images.yml names them at DEMO_REGISTRY.
 */
import type { ImageRecipe } from '../dev/images.js';

/** Where the demo's registry listens: the dev cluster's underlay gateway, plain HTTP. */
export const DEMO_REGISTRY = '172.30.0.1:5000';

/** A web server answering with its task name (its hostname) and node; the image's own HEALTHCHECK. */
export const DEMO_WEB: ImageRecipe = {
  tag: 'meshd-demo/web:1',
  files: {
    'bin/serve': '#!/bin/sh\necho "hello from $(hostname) on $MESH_NODE_NAME" > /www/index.html\necho "serving as $(hostname)"\nexec httpd -f -p 80 -h /www\n',
  },
  lines: ['HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD wget -q -O /dev/null http://127.0.0.1/ || exit 1', 'CMD ["/bin/serve"]'],
};

/**
 * A client asking `web` by name every 2 s and printing the answer (its log shows the mesh at work).
 * No `wget -T`: Debian's static busybox 1.35 crashes with it on this machine's kernel.
 */
export const DEMO_CLIENT: ImageRecipe = {
  tag: 'meshd-demo/client:1',
  files: {
    'bin/ask': '#!/bin/sh\nwhile true; do echo "$(hostname) asked web: $(wget -q -O - http://web/ 2>&1)"; sleep 2; done\n',
  },
  lines: ['CMD ["/bin/ask"]'],
};

export const DEMO_IMAGES: readonly ImageRecipe[] = [DEMO_WEB, DEMO_CLIENT];
