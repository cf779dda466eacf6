#!/usr/bin/env bash
# Independent read-back of vkdream's mesh files: the Khronos glTF validator (npm package
# gltf-validator) must find zero errors and zero warnings in the GLBs (ShapeWorld objects
# and fitted NeRF checkpoints), and three.js'
# OBJLoader and PLYLoader must re-import the OBJ and PLY with the vertex and face counts
# the exporter reported. The npm packages are installed into a cache under the build tree
# on first use; without node/npm or the registry the test is skipped (exit 77).
#   usage: gltf_validate.sh path/to/vkdream BUILD_DIR
set -u
V=$1
CACHE=${2:-.}/npm
# Skipping is only allowed when the checks above all passed.
skip() { echo "SKIP: $1"; [ "$fails" -ne 0 ] && exit 1; exit 77; }
DIR=$(mktemp -d /tmp/vkd_gltf_XXXXXX) || exit 1
trap 'rm -rf "$DIR"' EXIT
fails=0
# The empty case: nothing crosses, so nothing is written and the message helps.
out=$("$V" export --shapeworld "a red sphere" --grid 32 --threshold 5 -o "$DIR/empty.glb" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "no surface crosses threshold 5" <<<"$out" &&
   grep -q "try --threshold" <<<"$out" && [ ! -e "$DIR/empty.glb" ]; then
  echo "ok   empty export is refused: $out"
else
  echo "FAIL empty export (exit $rc, file $(ls "$DIR")): $out"; fails=$((fails + 1))
fi
# export prints "FILE: V vertices, F faces (...)"; keep "V F" per file.
export_mesh() { # file, export args...
  local f=$1; shift
  local out; out=$("$V" export "$@" -o "$DIR/$f" 2>&1) || { echo "FAIL export $f: $out"; fails=$((fails + 1)); return; }
  echo "$out"
  sed -E 's/^[^:]*: ([0-9]+) vertices, ([0-9]+) faces.*/\1 \2/' <<<"$out" >"$DIR/$f.counts"
}
export_mesh torus.glb --shapeworld "an orange torus" --grid 96
export_mesh torus.obj --shapeworld "an orange torus" --grid 96
export_mesh torus.ply --shapeworld "an orange torus" --grid 96
export_mesh cube.glb --shapeworld "a blue cube" --grid 64 --largest --faces 3000
export_mesh pyramid.glb --shapeworld "a green pyramid" --grid 128
# Fitted NeRF checkpoints (tests/test_nerf_fit.c writes them into the build directory;
# CTest runs it first as a fixture): the checkpoint path of `export`, at its defaults.
BUILD=${2:-.}
for obj in red_cube orange_torus; do
  if [ -f "$BUILD/nerf_fit_$obj.safetensors" ]; then
    export_mesh "nerf_$obj.glb" "$BUILD/nerf_fit_$obj.safetensors" --device cpu
    export_mesh "nerf_$obj.ply" "$BUILD/nerf_fit_$obj.safetensors" --device cpu --grid 64 --faces 5000
  else
    echo "FAIL $BUILD/nerf_fit_$obj.safetensors is missing (test_nerf_fit_cpu writes it)"; fails=$((fails + 1))
  fi
done

command -v node >/dev/null || skip "node is not installed (apt-get install nodejs npm)"
if [ ! -f "$CACHE/node_modules/gltf-validator/package.json" ] ||
   [ ! -f "$CACHE/node_modules/three/package.json" ]; then
  command -v npm >/dev/null || skip "npm is not installed (apt-get install npm)"
  mkdir -p "$CACHE" || skip "cannot create $CACHE"
  echo "installing gltf-validator and three into $CACHE"
  if ! (cd "$CACHE" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
          gltf-validator three >install.log 2>&1); then
    tail -5 "$CACHE/install.log"
    skip "npm install gltf-validator three failed (registry unreachable?); see $CACHE/install.log"
  fi
fi

cat >"$DIR/check.mjs" <<'JS'
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const [cache, dir] = process.argv.slice(2);
const require = createRequire(path.join(cache, 'package.json'));
const validator = require('gltf-validator');
const three = path.join(cache, 'node_modules/three/examples/jsm/loaders/');
const { OBJLoader } = await import(path.join(three, 'OBJLoader.js'));
const { PLYLoader } = await import(path.join(three, 'PLYLoader.js'));
let fails = 0;
const counts = (f) => fs.readFileSync(path.join(dir, f + '.counts'), 'utf8').trim().split(' ').map(Number);
const expect = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) fails++; };
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.glb')).sort()) {
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, f)));
  const r = await validator.validateBytes(bytes, { maxIssues: 50 });
  const is = r.issues;
  console.log(`${f}: validator ${r.validatorVersion}: ${is.numErrors} errors, ${is.numWarnings} warnings, ` +
              `${is.numInfos} infos, ${is.numHints} hints`);
  for (const m of is.messages) console.log(`  [${m.severity}] ${m.code} ${m.pointer || ''}: ${m.message}`);
  expect(is.numErrors === 0 && is.numWarnings === 0, `${f} passes the glTF validator`);
  const [v, t] = counts(f);
  const info = r.info || {};
  expect(info.totalVertexCount === v && info.totalTriangleCount === t,
         `${f}: validator counts ${info.totalVertexCount} vertices, ${info.totalTriangleCount} triangles (want ${v}, ${t})`);
}
{
  const [v, t] = counts('torus.obj');
  const g = new OBJLoader().parse(fs.readFileSync(path.join(dir, 'torus.obj'), 'utf8')).children[0].geometry;
  const p = g.getAttribute('position');
  const uniq = new Set();
  for (let i = 0; i < p.count; i++) uniq.add(`${p.getX(i)},${p.getY(i)},${p.getZ(i)}`);
  expect(p.count / 3 === t, `OBJ re-imports with ${p.count / 3} faces (want ${t})`);
  expect(uniq.size === v, `OBJ re-imports with ${uniq.size} distinct vertices (want ${v})`);
  expect(!!g.getAttribute('color') && !!g.getAttribute('normal'), 'OBJ carries vertex colours and normals');
}
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.ply')).sort()) {
  const [v, t] = counts(f);
  const buf = fs.readFileSync(path.join(dir, f));
  const g = new PLYLoader().parse(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  expect(g.getAttribute('position').count === v && g.index.count === 3 * t,
         `${f} re-imports with ${g.getAttribute('position').count} vertices, ${g.index.count / 3} faces (want ${v}, ${t})`);
  expect(!!g.getAttribute('color') && !!g.getAttribute('normal'), `${f} carries vertex colours and normals`);
}
process.exit(fails ? 1 : 0);
JS
node "$DIR/check.mjs" "$(cd "$CACHE" && pwd)" "$DIR" || fails=$((fails + 1))
if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all mesh files read back"
