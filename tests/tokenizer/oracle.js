// The tokenizer oracle: Hugging Face's own tokenizers library (the Rust crate, as its npm package
// publishes it) against `seek tokenize` on the same texts, id for id; both decodes must give the
// texts back.
//
//   node oracle.js --seek PATH --tokenizer tokenizer.json [--sha256 HEX] [--workdir DIR] [--lossy]
//                  --corpus corpus.jsonl [--files FILE...]
//
// The texts are the corpus's lines (one JSON string each) and then each --files file whole.
// --lossy: the tokenizer drops text (a Split with behavior Removed), so seek's decode must equal
// Hugging Face's decode of the same ids rather than the text.
// Exit 0: no difference; 1: differences (the first few are shown); 77: skipped, because the npm
// packages are not installed (scripts/setup.sh installs them).
'use strict';
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const args = { files: [] };
  for (let i = 0; i < argv.length; ++i) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'lossy') {
      args.lossy = true;
    } else if (name === 'files') {
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) args.files.push(argv[++i]);
    } else {
      args[name] = argv[++i];
    }
  }
  for (const required of ['seek', 'tokenizer', 'corpus'])
    if (!args[required]) throw new Error(`missing --${required}`);
  return args;
}

function skip(reason) {
  console.log(`skipped: ${reason} (scripts/setup.sh installs it: npm ci in tests/tokenizer)`);
  process.exit(77);
}

function readJsonLines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
}

function seek(seekPath, args) {
  const run = childProcess.spawnSync(seekPath, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (run.status !== 0) throw new Error(`seek ${args.join(' ')} exited ${run.status}:\n${run.stderr}`);
  return { lines: run.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line)), stderr: run.stderr };
}

// The first index where two id lists differ, or -1.
function firstDifference(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); ++i) if (a[i] !== b[i]) return i;
  return -1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let Tokenizer;
  try {
    ({ Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers')));
  } catch (error) {
    skip(`the npm package 'tokenizers' is not installed in ${__dirname} (${error.message.split('\n')[0]})`);
  }
  if (!fs.existsSync(args.tokenizer)) skip(`${args.tokenizer} is not there`);

  const bytes = fs.readFileSync(args.tokenizer);
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  if (args.sha256 && digest !== args.sha256) {
    console.log(`FAIL: ${args.tokenizer} has sha256 ${digest}, expected ${args.sha256}`);
    process.exit(1);
  }
  console.log(`tokenizer: ${args.tokenizer} (sha256 ${digest})`);

  const texts = readJsonLines(args.corpus);
  for (const file of args.files) texts.push(fs.readFileSync(file, 'utf8'));

  // Hugging Face's side. encode() with its defaults: the post-processor (ByteLevel here) adds no BOS.
  const hf = Tokenizer.fromFile(args.tokenizer);
  const expected = [];
  let hfRoundTrip = 0;
  for (const text of texts) {
    const encoding = await hf.encode(text);
    const decoded = await hf.decode(encoding.getIds(), false);
    expected.push({ ids: encoding.getIds(), tokens: encoding.getTokens(), decoded });
    if (decoded !== text) ++hfRoundTrip;
  }

  // seekscope's side, through the command line.
  const workdir = fs.mkdtempSync(path.join(args.workdir || os.tmpdir(), 'tokenizer-oracle-'));
  const textsFile = path.join(workdir, 'texts.jsonl');
  fs.writeFileSync(textsFile, texts.map((text) => JSON.stringify(text)).join('\n') + '\n');
  const encoded = seek(args.seek, ['tokenize', '--tokenizer', args.tokenizer, '--json', '--input', textsFile]);
  const got = encoded.lines;
  const idsFile = path.join(workdir, 'ids.jsonl');
  fs.writeFileSync(idsFile, got.map((line) => JSON.stringify(line.ids)).join('\n') + '\n');
  const decoded = seek(args.seek, ['tokenize', '--tokenizer', args.tokenizer, '--decode', '--json', '--input', idsFile]).lines;
  fs.rmSync(workdir, { recursive: true, force: true });

  let differences = 0, tokens = 0, roundTrip = 0, shown = 0;
  if (got.length !== texts.length) {
    console.log(`FAIL: seek tokenize printed ${got.length} results for ${texts.length} texts`);
    process.exit(1);
  }
  for (let i = 0; i < texts.length; ++i) {
    tokens += expected[i].ids.length;
    const at = firstDifference(expected[i].ids, got[i].ids);
    if (at >= 0) {
      ++differences;
      if (shown++ < 5) {
        const from = Math.max(0, at - 3);
        console.log(`DIFF text ${i + 1} ${JSON.stringify(texts[i].slice(0, 80))}: first at token ${at}`);
        console.log(`  hf:   ${JSON.stringify(expected[i].ids.slice(from, at + 4))} ${JSON.stringify(expected[i].tokens.slice(from, at + 4))}`);
        console.log(`  seek: ${JSON.stringify(got[i].ids.slice(from, at + 4))} ${JSON.stringify(got[i].pieces.slice(from, at + 4))}`);
      }
    }
    const want = args.lossy ? expected[i].decoded : texts[i];
    if (decoded[i] !== want) {
      ++roundTrip;
      if (shown++ < 5) console.log(`ROUND TRIP text ${i + 1}: seek decodes ${JSON.stringify(decoded[i].slice(0, 80))}, ` +
                                   `expected ${JSON.stringify(want.slice(0, 80))}`);
    }
  }
  // BOS comes from tokenizer_config.json, when one lies beside tokenizer.json.
  let bosNote = '';
  const configFile = path.join(path.dirname(args.tokenizer), 'tokenizer_config.json');
  if (fs.existsSync(configFile)) {
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    const bos = typeof config.bos_token === 'string' ? config.bos_token : config.bos_token && config.bos_token.content;
    if (bos) {
      const withBos = seek(args.seek, ['tokenize', '--tokenizer', args.tokenizer, '--json', '--bos', 'Hi']).lines[0];
      const hi = (await hf.encode('Hi')).getIds();
      const want = [hf.tokenToId(bos), ...hi];
      bosNote = `, --bos gives ${JSON.stringify(withBos.ids)}`;
      if (firstDifference(want, withBos.ids) >= 0) {
        console.log(`FAIL: --bos gives ${JSON.stringify(withBos.ids)}, expected ${JSON.stringify(want)} (${bos})`);
        ++differences;
      }
    }
  }
  console.log(`${encoded.stderr.trim()}`);
  console.log(`tokenizer oracle: ${texts.length} strings, ${tokens} tokens, ${differences} differences, ` +
              `${roundTrip} seek decode failures (against ${args.lossy ? "hf's decode" : 'the text'}), ` +
              `${hfRoundTrip} texts that hf's decode does not give back${bosNote}`);
  process.exit(differences || roundTrip ? 1 : 0);
}

main().catch((error) => {
  console.log(`FAIL: ${error.stack}`);
  process.exit(1);
});
