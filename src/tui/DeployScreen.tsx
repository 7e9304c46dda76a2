import { useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from './use-keys.js';
import { packCrate } from '../builder/pack.js';
import { completePath, previewCrate, type CratePreview } from './crate-preview.js';
import { Frame, useBodyRows } from './Frame.js';
import { ManifestPreview } from './ManifestPreview.js';
import { TextInput } from './TextInput.js';
import { colour } from './theme.js';
import { useTui } from './tui-context.js';

export interface DeployScreenProps {
  /** Prefills the path (redeploying from an app's page). */
  initialDir?: string | undefined;
}

type Stage =
  | { name: 'input'; preview?: CratePreview }
  | { name: 'checking' }
  | { name: 'confirm'; preview: CratePreview & { ok: true } }
  | { name: 'uploading'; preview: CratePreview & { ok: true } };

/** Register or redeploy: path → routes (or errors) in place → confirm → upload; then the build screen. */
export function DeployScreen({ initialDir }: DeployScreenProps) {
  const { client, back, replace } = useTui();
  const [path, setPath] = useState(initialDir ?? '');
  const [stage, setStage] = useState<Stage>({ name: 'input' });
  const rows = useBodyRows();

  const check = async (value: string): Promise<void> => {
    if (value.trim() === '') return;
    setStage({ name: 'checking' });
    const preview = await previewCrate(value);
    setStage(preview.ok ? { name: 'confirm', preview } : { name: 'input', preview });
  };

  const deploy = async (preview: CratePreview & { ok: true }): Promise<void> => {
    setStage({ name: 'uploading', preview });
    try {
      const previous = await client.app(preview.manifest.name).catch(() => null);
      const build = await client.upload(await packCrate(preview.dir));
      replace({ name: 'build', app: build.app, buildId: build.id, previousBuild: previous?.currentBuild ?? null });
    } catch (error) {
      // The gateway refused the upload (a route conflict, say): show why, in place.
      setStage({ name: 'input', preview: { ok: false, dir: preview.dir, message: (error as Error).message } });
    }
  };

  useKeys(
    (input, key) => {
      if (stage.name === 'input' && key.escape) back();
      if (stage.name === 'confirm') {
        if (key.return || input === 'y') void deploy(stage.preview);
        else if (key.escape || input === 'n') setStage({ name: 'input', preview: stage.preview });
      }
    },
  );

  const keys: Array<[string, string]> =
    stage.name === 'confirm' ? [['enter', 'deploy'], ['esc', 'change path']] : [['enter', 'check'], ['tab', 'complete'], ['^U', 'clear'], ['esc', 'back']];
  const preview = stage.name === 'input' ? stage.preview : stage.name === 'checking' ? undefined : stage.preview;
  return (
    <Frame title="deploy" note="register or update an app" keys={keys}>
      <Text>Crate directory (absolute, or relative to {process.cwd()}):</Text>
      <Box>
        <Text color={colour('cyan')}>› </Text>
        <TextInput value={path} onChange={setPath} onSubmit={(value) => void check(value)} onTab={() => setPath(completePath(path))} focus={stage.name === 'input'} placeholder="runner/examples/hello" />
      </Box>
      <Box marginTop={1} flexDirection="column">
        {stage.name === 'checking' ? <Text dimColor>Checking rustless.toml…</Text> : null}
        {stage.name === 'uploading' ? <Text color={colour('yellow')}>Packing and uploading {stage.preview.manifest.name}…</Text> : null}
        {preview ? <ManifestPreview preview={preview} height={Math.max(2, rows - 6)} /> : null}
        {stage.name === 'confirm' ? (
          <Text bold>
            Deploy <Text color={colour('cyan')}>{stage.preview.manifest.name}</Text>? Enter to deploy, Esc to change the path.
          </Text>
        ) : null}
      </Box>
    </Frame>
  );
}
