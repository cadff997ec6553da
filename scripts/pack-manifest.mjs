// `prepare` builds the package for a git or folder install and tidies our own `npm install`. A tarball
// must not carry it: npm lists a packed `prepare` among the install scripts a user has to review when
// they install the tarball from a file, although it would never run there. So `prepack` takes it out of
// package.json for the time of the pack (`strip`) and `postpack` puts the file back byte for byte
// (`restore`). Both writes go through a rename, so that nothing reading package.json meanwhile sees half
// a file.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

const manifest = new URL('../package.json', import.meta.url);
const backup = new URL('../package.json.prepack', import.meta.url);
const temporary = new URL('../package.json.tmp', import.meta.url);

function replaceManifest(text) {
  writeFileSync(temporary, text);
  renameSync(temporary, manifest);
}

const command = process.argv[2];
if (command === 'strip') {
  // A backup left by a pack that died before `postpack` is the true package.json: keep it.
  const original = existsSync(backup) ? readFileSync(backup, 'utf8') : readFileSync(manifest, 'utf8');
  writeFileSync(backup, original);
  const pkg = JSON.parse(original);
  delete pkg.scripts.prepare;
  replaceManifest(`${JSON.stringify(pkg, null, 2)}\n`);
} else if (command === 'restore') {
  if (existsSync(backup)) {
    replaceManifest(readFileSync(backup, 'utf8'));
    rmSync(backup);
  }
} else {
  console.error('usage: node scripts/pack-manifest.mjs strip|restore');
  process.exit(2);
}
