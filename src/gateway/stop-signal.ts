/**
 * The signal that stops the gateway (SIGTERM from systemd, SIGINT from a terminal), with
 * listeners that stay installed until the process exits.
 *
 * Not `process.once`: a library may add a SIGTERM/SIGINT listener of its own that, finding itself
 * the only listener left, sends the same signal again to keep the default action. execa did,
 * through signal-exit, while the gateway ran its commands through it (`systemctl start` for a
 * cold start, `journalctl -f` behind `rustless logs -f`): a `once` listener had removed itself by
 * then, so the second signal killed the gateway a few ms into its drain, with every request in
 * flight (docs/systemd.md, "restarts"). The gateway's commands run on node's own child_process
 * now (src/process/run-command.ts), and listeners that stay keep any such library harmless.
 */
export interface StopSignal {
  /** The first stop signal received, if any yet. */
  readonly received: NodeJS.Signals | undefined;
  /** Resolves with the first stop signal. */
  readonly wait: Promise<NodeJS.Signals>;
}

/**
 * Listens for SIGTERM and SIGINT from now on. A second SIGTERM changes nothing (the drain has its
 * own deadline, systemd its stop timeout); a second SIGINT exits at once, as a person pressing
 * Ctrl-C twice expects.
 */
export function stopSignal(onSignal: (signal: NodeJS.Signals, repeated: boolean) => void = () => {}): StopSignal {
  let received: NodeJS.Signals | undefined;
  let resolve!: (signal: NodeJS.Signals) => void;
  const wait = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const listener = (signal: NodeJS.Signals): void => {
    const repeated = received !== undefined;
    onSignal(signal, repeated);
    if (repeated) {
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    received = signal;
    resolve(signal);
  };
  process.on('SIGTERM', listener);
  process.on('SIGINT', listener);
  return {
    get received() {
      return received;
    },
    wait,
  };
}
