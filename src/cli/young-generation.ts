import v8 from 'node:v8';

/**
 * A node allocates steadily (a few objects per commit) but keeps little, and V8 grows its young
 * generation under that rate to its 2 × 16 MB maximum, never to give it back: 30 MB of a 256 MB
 * VM's memory for a few scavenges saved. Held at its first size (1 MB semi-spaces), it scavenges
 * more often, each as cheap. V8 reads the growth factor at every growth, so setting it at run
 * time works; a size the user chose (NODE_OPTIONS, node's own flags) is left alone.
 */
export function holdYoungGeneration(): void {
  if (/semi-space/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) return;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
