export { runTui, type RunTuiOptions } from './run-tui.js';
