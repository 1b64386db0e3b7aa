#!/usr/bin/env node
// Entry point of the `gatehouse` command. Plain JavaScript, so that an older Node.js can still
// print why it cannot run the TypeScript sources.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 15)) {
  process.stderr.write(
    `gatehouse needs Node.js 24.15 or later, this is ${process.version}.\n` +
      'From a checkout, run it through npm so the pinned runtime is used: npx gatehouse ...\n',
  );
  process.exit(1);
}
const { main } = await import('../src/cli.ts');
process.exit(await main(process.argv.slice(2)));
