/**
 * What the app does when a view asks for engine work: run it through the client and feed the answers back to the
 * view. Views never hold the client; LabApp calls these, and component tests call them with a scripted client.
 */
import type { EngineClient } from '../engine/client';
import type { SweepConfig } from '../eval/sweep';
import { describeError } from './error-text';
import type { SparkEventDetails } from './events';
import type { ProfileView } from './profile-view';
import type { SampleView } from './sample-view';
import type { SweepView } from './sweep-view';

/** The part of EngineClient a sweep needs (tests pass a scripted fake). */
export type SweepClient = Pick<EngineClient, 'sweep'>;

/** Runs the sweep a SweepView asked for and shows it there as it streams; resolves when it has ended or failed. */
export async function sweepInto(client: SweepClient, view: SweepView, config: SweepConfig): Promise<void> {
  if (view.running) return;
  view.begin(config);
  try {
    view.finish(await client.sweep(config, (e) => view.add(e)));
  } catch (e) {
    view.fail(e);
  }
}

/** Samples what a SampleView asked for, streaming the text into it. */
export async function sampleInto(client: Pick<EngineClient, 'sample'>, view: SampleView, d: SparkEventDetails['spark-sample']): Promise<void> {
  view.begin();
  try {
    const r = await client.sample(d.prompt, d.options, (t) => view.appendText(t));
    view.finish(r.tokens, r.tokensPerSecond);
  } catch (e) {
    view.fail(describeError(e));
  }
}

/** Profiles the run's next step for a ProfileView; its failure (no run training, the run stopped) is shown there. */
export async function profileInto(client: Pick<EngineClient, 'profile'>, view: ProfileView): Promise<void> {
  try {
    view.show({ profile: await client.profile() });
  } catch (e) {
    view.show({ error: describeError(e) });
  }
}
