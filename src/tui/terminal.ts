/**
 * The TUI draws on the terminal's alternate screen, like less or htop, so quitting puts back
 * exactly what was there before. `leave` runs once, whichever way the TUI ends.
 */
const ENTER_ALT = '\u001b[?1049h\u001b[H\u001b[2J';
const LEAVE_ALT = '\u001b[?1049l';
const SHOW_CURSOR = '\u001b[?25h';

export interface TerminalGuard {
  leave(): void;
}

export function enterAltScreen(stdout: NodeJS.WriteStream, stdin: NodeJS.ReadStream): TerminalGuard {
  stdout.write(ENTER_ALT);
  let left = false;
  const leave = (): void => {
    if (left) return;
    left = true;
    process.off('exit', leave);
    if (stdin.isTTY && stdin.isRaw) stdin.setRawMode(false);
    stdout.write(LEAVE_ALT + SHOW_CURSOR);
  };
  // A crash or process.exit elsewhere still gets the terminal back.
  process.on('exit', leave);
  return { leave };
}
