/**
 * Colours of the TUI. With NO_COLOR set (https://no-color.org) every colour is dropped; bold,
 * dim and inverse stay, so selection and emphasis still show on a monochrome terminal.
 */
import type { AppStatus } from '../api/types.js';

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'cyan' | 'magenta' | 'gray';

const noColour = (): boolean => {
  const value = process.env.NO_COLOR;
  return value !== undefined && value !== '';
};

/** The colour to pass to Ink's `color` prop, or undefined when colours are off. */
export function colour(name: Colour): Colour | undefined {
  return noColour() ? undefined : name;
}

export function statusColour(status: AppStatus | string): Colour | undefined {
  switch (status) {
    case 'running':
    case 'succeeded':
      return colour('green');
    case 'ready':
      return colour('cyan');
    case 'frozen':
      return colour('blue');
    case 'building':
    case 'queued':
    case 'starting':
    case 'stopping':
      return colour('yellow');
    case 'failed':
      return colour('red');
    default:
      return colour('gray');
  }
}
