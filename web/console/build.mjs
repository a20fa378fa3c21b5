// Builds the console's vendored libraries from the versions package-lock.json pins:
//   npm --prefix web/console ci && npm --prefix web/console run build
// Output (committed): internal/console/assets/vendor/ and the axe-core copy the browser tests
// inject, internal/console/testdata/axe/.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nm = join(here, 'node_modules');
const vendor = join(here, '../../internal/console/assets/vendor');
const axe = join(here, '../../internal/console/testdata/axe');
mkdirSync(vendor, { recursive: true });
mkdirSync(axe, { recursive: true });

const version = (pkg) => JSON.parse(readFileSync(join(nm, pkg, 'package.json'), 'utf8')).version;

// Every package that ends up in a bundle, read from esbuild's metafile, for its licence.
const bundled = new Set();
const pkgOf = (path) => {
  const m = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  return m && m[1];
};
for (const name of ['preact', 'codemirror', 'yaml']) {
  const result = await build({
    entryPoints: [join(here, 'src', name + '.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    legalComments: 'inline',
    target: 'es2020',
    metafile: true,
    outfile: join(vendor, name + '.js'),
  });
  const pkgs = [...new Set(Object.keys(result.metafile.inputs).map(pkgOf).filter(Boolean))].sort();
  pkgs.forEach((p) => bundled.add(p));
  const out = join(vendor, name + '.js');
  const banner = '// ' + pkgs.map((p) => p + ' ' + version(p)).join(', ') + '; built by web/console/build.mjs, licences in LICENSES/\n';
  writeFileSync(out, banner + readFileSync(out, 'utf8'));
}

// Release files as they ship.
bundled.add('uplot');
copyFileSync(join(nm, 'uplot/dist/uPlot.esm.js'), join(vendor, 'uplot.js'));
copyFileSync(join(nm, 'uplot/dist/uPlot.min.css'), join(vendor, 'uplot.css'));
copyFileSync(join(nm, 'axe-core/axe.min.js'), join(axe, 'axe.min.js'));
copyFileSync(join(nm, 'axe-core/LICENSE'), join(axe, 'LICENSE'));
writeFileSync(join(axe, 'VERSION.txt'), 'axe-core ' + version('axe-core') + '\n');

// Each library's licence next to it.
mkdirSync(join(vendor, 'LICENSES'), { recursive: true });
const lines = [];
for (const pkg of [...bundled].sort()) {
  const file = pkg.replace('/', '-').replace('@', '') + '.txt';
  copyFileSync(join(nm, pkg, 'LICENSE'), join(vendor, 'LICENSES', file));
  lines.push(`${pkg} ${version(pkg)}: LICENSES/${file}`);
}
writeFileSync(join(vendor, 'VERSIONS.txt'), lines.join('\n') + '\n');
