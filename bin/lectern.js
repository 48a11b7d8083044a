#!/usr/bin/env node
// Checked before anything is loaded: on an older Node, Lectern's modules (node:sqlite among them)
// would fail to load with an error that does not say why.
const MIN_NODE_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  console.error(
    `lectern needs Node.js ${MIN_NODE_MAJOR} or newer, but runs on ${process.version} (${process.execPath}): install Node.js ${MIN_NODE_MAJOR} (in a Lectern checkout, \`source scripts/ensure-node.sh\` fetches it and puts it first on PATH)`,
  );
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');
await main(process.argv.slice(2));
