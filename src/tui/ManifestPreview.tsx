import { Box, Text } from 'ink';
import type { CratePreview } from './crate-preview.js';
import { RouteList } from './RouteList.js';
import { colour } from './theme.js';

export interface ManifestPreviewProps {
  preview: CratePreview;
  /** Rows available. */
  height: number;
}

/** The app and routes a crate's rustless.toml declares, or why it is refused. */
export function ManifestPreview({ preview, height }: ManifestPreviewProps) {
  if (!preview.ok) {
    return (
      <Box flexDirection="column" height={height} overflow="hidden">
        <Text bold color={colour('red')}>
          ✗ Cannot deploy this crate:
        </Text>
        <Text color={colour('red')}>{preview.message}</Text>
      </Box>
    );
  }
  const { manifest } = preview;
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      <Text>
        App <Text bold>{manifest.name}</Text>
        <Text dimColor>{`  from ${preview.dir}`}</Text>
      </Text>
      <Text bold>{`Routes (${manifest.routes.length}):`}</Text>
      <RouteList routes={manifest.routes.map((r) => ({ methods: r.methods, path: r.path, function: r.function, timeoutMs: r.timeoutMs }))} max={Math.max(1, height - 3)} />
    </Box>
  );
}
