/**
 * Webhook deliveries shaped as GitHub sends them (docs.github.com, "Webhook events and
 * payloads"): its headers, its JSON (compact, with `<`, `>` and `&` escaped as `\u003c` ...), or
 * the same JSON as the `payload` field of a form when the webhook's content type is
 * `application/x-www-form-urlencoded`; signed with HMAC-SHA256 over the exact body bytes.
 */
import { createHmac, randomUUID } from 'node:crypto';

export interface Delivery {
  id: string;
  headers: Record<string, string>;
  body: string;
}

/** A `push` payload, as GitHub writes it: the escapes make a re-serialization differ from these bytes. */
export function pushPayload(repository = 'octo-org/pi-hooks'): string {
  return (
    `{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",` +
    `"repository":{"id":35129377,"name":"${repository.split('/')[1]}","full_name":"${repository}","private":false},` +
    `"pusher":{"name":"octocat","email":"octocat@github.com"},` +
    `"head_commit":{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","message":"Fix \\u003cscript\\u003e \\u0026 ünïcode","timestamp":"2026-12-03T10:30:00+01:00"}}`
  );
}

export function githubDelivery({
  secret,
  event = 'push',
  payload = pushPayload(),
  form = false,
  id = randomUUID(),
}: {
  /** The webhook's secret; undefined: GitHub sends no signature (a webhook without a secret). */
  secret: string | undefined;
  event?: string;
  payload?: string;
  /** GitHub's "Content type: application/x-www-form-urlencoded" setting. */
  form?: boolean;
  id?: string;
}): Delivery {
  const body = form ? new URLSearchParams({ payload }).toString() : payload;
  const headers: Record<string, string> = {
    'user-agent': 'GitHub-Hookshot/044aadd',
    'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-github-delivery': id,
    'x-github-event': event,
    'x-github-hook-id': '292430182',
    'x-github-hook-installation-target-id': '79929171',
    'x-github-hook-installation-target-type': 'repository',
  };
  if (secret !== undefined) {
    headers['x-hub-signature'] = `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
    headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  }
  return { id, headers, body };
}
