// The devDependency `node@24` exists so a test can run the built package under Node 24. npm links
// its binary as node_modules/.bin/node, which would make every npm script (tests, demo, bench) run
// on Node 24 instead of the machine's Node. Removing the link keeps scripts on the machine's Node;
// the Node 24 test reaches the binary by its path, node_modules/node/bin/node.
import { rmSync } from 'node:fs';

for (const name of ['node', 'node.cmd', 'node.ps1']) {
  rmSync(new URL(`../node_modules/.bin/${name}`, import.meta.url), { force: true });
}
