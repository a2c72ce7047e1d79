/**
 * A generated "simple stories" corpus: short children's stories from a small seeded grammar (characters, places,
 * objects, a problem and its resolution). The vocabulary is small and the structure repetitive, so a tiny model
 * learns visible grammar within minutes. Deterministic: the same seed and size give the same text everywhere.
 */
import { Rng } from '../lib/rng';

interface Character {
  name: string;
  kind: string;
  he: string; // subject pronoun
  his: string; // possessive
  him: string; // object pronoun
}

const NAMES_SHE = ['Mia', 'Lily', 'Zoe', 'Ana', 'Ivy', 'Lucy', 'Emma', 'Rosa', 'Nora', 'Ruby', 'Ella', 'Maya', 'Sara', 'Luna', 'Anna'];
const NAMES_HE = ['Tom', 'Ben', 'Max', 'Leo', 'Tim', 'Jack', 'Finn', 'Kai', 'Otto', 'Dan', 'Hugo', 'Noah', 'Theo', 'Bob', 'Sam'];
const ANIMALS = ['cat', 'dog', 'rabbit', 'bird', 'fox', 'bear', 'frog', 'mouse', 'duck', 'turtle', 'owl', 'lamb'];
const ADJECTIVES = ['little', 'happy', 'brave', 'shy', 'curious', 'kind', 'sleepy', 'silly', 'clever', 'tiny', 'big', 'gentle'];
const PLACES = [
  'the park', 'a small town', 'the forest', 'the beach', 'a big garden', 'the farm', 'a quiet village', 'the hill',
  'the river', 'the school', 'the meadow', 'a little house',
];
const LANDMARKS = ['a tall tree', 'the old bridge', 'a big rock', 'the pond', 'the fence', 'a bush', 'the gate', 'the sandbox'];
const OBJECTS: [string, string][] = [
  ['a red ball', 'ball'], ['a shiny stone', 'stone'], ['a blue kite', 'kite'], ['an old map', 'map'],
  ['a small box', 'box'], ['a yellow hat', 'hat'], ['a toy boat', 'boat'], ['a big apple', 'apple'],
  ['a funny book', 'book'], ['a golden key', 'key'], ['a green leaf', 'leaf'], ['a soft blanket', 'blanket'],
];
const ACTIVITIES = [
  'play in the sun', 'read books', 'sing songs', 'run and jump', 'build towers', 'draw pictures', 'look at the stars',
  'dig in the sand', 'pick flowers', 'splash in puddles', 'climb trees', 'bake cookies',
];
const FEELINGS_GOOD = ['happy', 'proud', 'glad', 'excited', 'joyful'];
const FEELINGS_BAD = ['sad', 'scared', 'worried', 'upset', 'lonely'];
const MORALS = [
  'sharing makes everyone happy', 'it is good to be kind', 'friends help each other', 'you should always try again',
  'being brave is important', 'it is good to ask for help', 'patience pays off', 'small things can make a big difference',
];

export interface SimpleStoriesOptions {
  /** Seed of the grammar's choices. Default 1. */
  seed?: number;
  /** Approximate size in bytes (whole stories, so slightly more). In [1 KiB, 16 MiB]; default 1 MiB. */
  targetBytes?: number;
  /** Text between stories. Default a blank line; `'<|endoftext|>'` makes each story end with that special token. */
  separator?: string;
}

export const SIMPLE_STORIES_MIN_BYTES = 1024;
export const SIMPLE_STORIES_MAX_BYTES = 16 * 1024 * 1024;

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');

function makeCharacter(rng: Rng, avoid?: Character): Character {
  const he = rng.nextFloat() < 0.5 ? 'he' : 'she';
  const kind = rng.nextFloat() < 0.5 ? (he === 'he' ? 'boy' : 'girl') : rng.pick(ANIMALS);
  const names = he === 'he' ? NAMES_HE : NAMES_SHE;
  let name = rng.pick(names);
  while (avoid && name === avoid.name) name = rng.pick(names);
  return { name, kind, he, his: he === 'he' ? 'his' : 'her', him: he === 'he' ? 'him' : 'her' };
}

/** One story: introduction, an event, a problem, how it is solved, an ending. */
function story(rng: Rng): string {
  const hero = makeCharacter(rng);
  const friend = makeCharacter(rng, hero);
  const adj = rng.pick(ADJECTIVES);
  const place = rng.pick(PLACES);
  const [object, noun] = rng.pick(OBJECTS);
  const activity = rng.pick(ACTIVITIES);
  const good = rng.pick(FEELINGS_GOOD);
  const bad = rng.pick(FEELINGS_BAD);
  const landmark = rng.pick(LANDMARKS);
  const s: string[] = [];

  s.push(
    rng.pick([
      `Once upon a time, there was ${article(adj)} ${adj} ${hero.kind} named ${hero.name}.`,
      `${hero.name} was ${article(adj)} ${adj} ${hero.kind} who lived in ${place}.`,
      `There once lived ${article(adj)} ${adj} ${hero.kind} called ${hero.name}.`,
    ]),
  );
  if (rng.nextFloat() < 0.7) {
    s.push(rng.pick([
      `Every day, ${hero.name} liked to ${activity}.`,
      `${cap(hero.he)} loved to ${activity} with ${hero.his} family.`,
      `${cap(hero.he)} lived near ${landmark} in ${place}.`,
    ]));
  }

  const plot = rng.nextInt(3);
  if (plot === 0) {
    // Something lost or stuck, a friend helps.
    s.push(`One day, ${hero.name} found ${object} near ${landmark}.`);
    s.push(rng.pick([
      `${cap(hero.he)} played with the ${noun} all morning.`,
      `${cap(hero.he)} wanted to show it to everyone.`,
    ]));
    s.push(rng.pick([
      `But the wind blew the ${noun} up into a tall tree.`,
      `But the ${noun} fell into the water.`,
      `Then the ${noun} rolled far away and got lost.`,
    ]));
    s.push(`${hero.name} felt ${bad}. "Can you help me?" ${hero.he} asked.`);
    s.push(`${friend.name} the ${friend.kind} came by and said, "I will help you!"`);
    s.push(`Together, they worked hard and got the ${noun} back.`);
    s.push(`${hero.name} was so ${good}. "Thank you, ${friend.name}!" ${hero.he} said.`);
    s.push(`From that day on, ${hero.name} and ${friend.name} were best friends.`);
  } else if (plot === 1) {
    // Meeting someone sad; sharing.
    s.push(`One morning, ${hero.name} went to ${place} to ${activity}.`);
    s.push(`There ${hero.he} met ${article(friend.kind)} ${friend.kind} named ${friend.name}.`);
    s.push(`${friend.name} looked ${bad}. "What is wrong?" asked ${hero.name}.`);
    s.push(rng.pick([
      `"I have no one to play with," said ${friend.name}.`,
      `"I lost my ${noun}," said ${friend.name}.`,
      `"I am hungry and cold," said ${friend.name}.`,
    ]));
    s.push(rng.pick([
      `${hero.name} smiled and shared ${hero.his} ${noun} with ${friend.him}.`,
      `${hero.name} took ${friend.name}'s hand and said, "Let's play together!"`,
      `${hero.name} gave ${friend.name} ${object} and a big hug.`,
    ]));
    s.push(`${friend.name} felt ${good} again, and they played until the sun went down.`);
    if (rng.nextFloat() < 0.6) s.push(`${hero.name} learned that ${rng.pick(MORALS)}.`);
  } else {
    // A challenge, failing, trying again.
    s.push(`${hero.name} wanted to ${activity}, but it was hard.`);
    s.push(`The first time, ${hero.he} tried and fell down.`);
    s.push(`${cap(hero.he)} felt ${bad} and wanted to stop.`);
    s.push(rng.pick([
      `${cap(hero.his)} friend ${friend.name} said, "Do not give up! Try again."`,
      `Then ${hero.he} remembered what ${hero.his} mom said: "Never give up."`,
    ]));
    s.push(`So ${hero.name} tried again, and again, and again.`);
    s.push(`At last, ${hero.he} did it! ${hero.name} felt very ${good}.`);
    if (rng.nextFloat() < 0.6) s.push(`${hero.name} learned that ${rng.pick(MORALS)}.`);
  }
  if (rng.nextFloat() < 0.3) s.push('The end.');
  return s.join(' ');
}

/** Generates about `targetBytes` of stories (ASCII, so bytes = characters), deterministic for the seed. */
export function generateSimpleStories(options: SimpleStoriesOptions = {}): string {
  const seed = options.seed ?? 1;
  const targetBytes = options.targetBytes ?? 1024 * 1024;
  const separator = options.separator ?? '\n\n';
  if (!Number.isFinite(seed)) throw new RangeError(`simple stories: seed must be a finite number, got ${seed}`);
  if (!Number.isInteger(targetBytes) || targetBytes < SIMPLE_STORIES_MIN_BYTES || targetBytes > SIMPLE_STORIES_MAX_BYTES) {
    throw new RangeError(
      `simple stories: targetBytes ${targetBytes} is out of range; use an integer from ${SIMPLE_STORIES_MIN_BYTES} ` +
        `(1 KiB) to ${SIMPLE_STORIES_MAX_BYTES} (16 MiB)`,
    );
  }
  const rng = new Rng(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < targetBytes) {
    const text = story(rng) + separator;
    parts.push(text);
    length += text.length;
  }
  return parts.join('');
}
