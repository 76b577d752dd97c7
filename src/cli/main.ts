#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AXIS_DEFAULT_FILENAME_PATTERN } from '../camera/filename-pattern.js';
import { clipFilenamePattern, formatSummary, simulate } from '../camera/simulator.js';
import { SIGNATURE_BYTES, mediaTypeForBytes } from '../core/media-types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_CLIP_BYTES } from '../core/receiver.js';
import { DEFAULT_KEY_TEMPLATE, KeyTemplate } from '../core/object-key.js';
import { GalleryAccess } from '../gallery/access.js';
import { openRegistry, stateFor } from '../state/location.js';
import { toInfo } from '../tokens/registry.js';
import type { TokenRegistry } from '../tokens/registry.js';
import { DEFAULT_STORE_LOCATION } from '../stores/location.js';
import { addCameraCommand } from './camera.js';
import type { ServeOptions } from './serve.js';
import { defaultWorkers, runWorkers, servesInProcess } from './workers.js';
import { workerRole } from './worker-bus.js';
import { integerIn, parseByteSize } from './sizes.js';
import { parsePortRange } from '../ftp/passive.js';
import type { PortRange } from '../ftp/passive.js';
import { DEFAULT_FTP_IDLE_TIMEOUT_MS, DEFAULT_FTP_MAX_SESSIONS } from '../ftp/server.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { version } = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
const SAMPLE_IMAGE = path.join(packageRoot, 'assets', 'sample.jpg');

const env = (name: string): string => `IMAGES_TO_S3_${name}`;
/** A repeatable option's parser: every value given, in order. */
const collect = (value: string, previous: string[]): string[] => [...previous, value];
/** `--ftp-passive-ports`' parser: a range, or the error commander shows. */
const portRange = (text: string): PortRange => {
  try {
    return parsePortRange(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};
const storeOption = (): Option =>
  new Option('--store <location>', 'where images go: file:<folder> or s3://bucket[/prefix]').env(env('STORE')).default(DEFAULT_STORE_LOCATION);
const tokensOption = (): Option =>
  new Option(
    '--tokens <location>',
    'token registry: a file, s3://bucket/key or aws-secretsmanager:<name or ARN> (default: beside the images, <folder>/.images-to-s3/tokens.json or s3://bucket/prefix/.images-to-s3/tokens.json)',
  ).env(env('TOKENS'));

/** Says so when the registry's store cannot protect concurrent edits from each other. */
async function warnIfUnprotected(registry: TokenRegistry): Promise<void> {
  if ((await registry.document.protection()) === 'last-writer-wins') {
    process.stderr.write(
      `Note: ${registry.location} is on a store that ignores conditional writes (If-Match), so two token commands run at the same moment can lose one's change. Run them one at a time, and check with \`token list\`.\n`,
    );
  }
}

const program = new Command('images-to-s3')
  .description('Receive images from network cameras and store them on disk, in S3 or in any S3-compatible store.')
  .version(version)
  .showHelpAfterError('(add --help to see every option)')
  .configureHelp({ showGlobalOptions: true });

program
  .command('serve')
  .description('run the receiver cameras send images to')
  .addOption(new Option('--host <host>', 'address to listen on').env(env('HOST')).default('0.0.0.0'))
  .addOption(new Option('--port <port>', 'port to listen on').env(env('PORT')).default(8080).argParser(integerIn(0, 65535)))
  .addOption(
    new Option('--workers <n>', 'processes taking uploads on the port, one per core by default (SFTP, FTP and other once-only work run in the first)')
      .env(env('WORKERS'))
      .default(defaultWorkers(), `${defaultWorkers()}: this machine's cores`)
      .argParser(integerIn(1, 256)),
  )
  .addOption(storeOption())
  .addOption(tokensOption())
  .addOption(new Option('--max-bytes <size>', 'largest image accepted, e.g. 32MB').env(env('MAX_BYTES')).default(DEFAULT_MAX_BYTES, '32MB').argParser(parseByteSize))
  .addOption(
    new Option('--max-clip-bytes <size>', 'largest video clip accepted (MKV, WebM, MP4); 512MB is over 8 minutes at 8 Mbit/s')
      .env(env('MAX_CLIP_BYTES'))
      .default(DEFAULT_MAX_CLIP_BYTES, '512MB')
      .argParser(parseByteSize),
  )
  .addOption(
    new Option('--key-template <template>', `object key layout; placeholders {camera} {yyyy} {MM} {dd} {HH} {mm} {ss} {filename}; '{filename}' is the Axis reference layout`)
      .env(env('KEY_TEMPLATE'))
      .default(DEFAULT_KEY_TEMPLATE)
      .argParser((value) => {
        try {
          return new KeyTemplate(value).template;
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      }),
  )
  .addOption(new Option('--recipient-path <path>', 'URL path cameras post to').env(env('RECIPIENT_PATH')).default('/'))
  .addOption(
    new Option('--tls-cert <file>', 'PEM certificate (chain) for HTTPS; repeat it (with --tls-key) to offer an ECDSA one beside RSA: each camera gets one it takes')
      .env(env('TLS_CERT'))
      .default([], 'plain HTTP')
      .argParser(collect),
  )
  .addOption(new Option('--tls-key <file>', 'PEM private key for HTTPS, one per --tls-cert in the same order').env(env('TLS_KEY')).default([], 'none').argParser(collect))
  .addOption(new Option('--log-level <level>', 'log level').env(env('LOG_LEVEL')).default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addOption(
    new Option('--request-timeout <seconds>', 'longest time to receive an image upload, or any other request (408 after it); a connection silent for 30 s is closed sooner')
      .env(env('REQUEST_TIMEOUT'))
      .default(120)
      .argParser(integerIn(1, 3600)),
  )
  .addOption(
    new Option('--clip-timeout <seconds>', 'longest time to receive a clip upload, for slow uplinks (408 after it); a connection silent for 30 s is closed sooner')
      .env(env('CLIP_TIMEOUT'))
      .default(1800)
      .argParser(integerIn(1, 86_400)),
  )
  .addOption(new Option('--shutdown-timeout <seconds>', 'on SIGTERM, how long in-flight uploads may take to finish').env(env('SHUTDOWN_TIMEOUT')).default(10).argParser(integerIn(0, 600)))
  .addOption(
    new Option('--s3-conditional-writes <mode>', 'S3 store: create-only writes with If-None-Match (auto probes the store at start)')
      .env(env('S3_CONDITIONAL_WRITES'))
      .default('auto')
      .choices(['auto', 'yes', 'no']),
  )
  .addOption(new Option('--store-timeout <seconds>', 'S3 store: longest wait for one request before the upload fails with 503').env(env('STORE_TIMEOUT')).default(30).argParser(integerIn(1, 600)))
  .addOption(new Option('--max-in-flight <n>', 'uploads handled at once; more are answered 503 with Retry-After').env(env('MAX_IN_FLIGHT')).default(128).argParser(integerIn(1, 100_000)))
  .addOption(
    new Option('--failed-auth-limit <n>', 'failed token checks per client address and minute before 429 (0: no limit)').env(env('FAILED_AUTH_LIMIT')).default(20).argParser(integerIn(0, 1_000_000)),
  )
  .addOption(new Option('--trust-proxy', 'take client addresses from X-Forwarded-For (only behind your own reverse proxy)').env(env('TRUST_PROXY')).default(false))
  .addOption(new Option('--retention-days <days>', 'disk store: delete images older than this, hourly in the background').env(env('RETENTION_DAYS')).argParser(integerIn(1, 36500)))
  .addOption(
    new Option('--no-fsync', 'disk store: answer without waiting for fsync (faster; images of the last seconds before a power cut can be lost)').env(env('NO_FSYNC')),
  )
  .addOption(new Option('--spool <folder>', 'S3 store: spool folder images are kept in until the store has them (default: <registry folder>/spool)').env(env('SPOOL')))
  .addOption(new Option('--no-spool', 'S3 store: no spool; answer only once the store has the image (503 while it is down)').env(env('NO_SPOOL')))
  .addOption(
    new Option('--spool-max-bytes <size>', 'S3 store: most bytes the spool holds before uploads get 507 (default: a quarter of the free space on its filesystem at start)')
      .env(env('SPOOL_MAX_BYTES'))
      .argParser(parseByteSize),
  )
  .addOption(new Option('--forward-concurrency <n>', 'S3 store: spooled images sent to the store at once').env(env('FORWARD_CONCURRENCY')).default(4).argParser(integerIn(1, 256)))
  .addOption(
    new Option('--forward-max-backoff <seconds>', 'S3 store: longest pause between attempts while the store is unreachable (the first is 1 s, doubling)')
      .env(env('FORWARD_MAX_BACKOFF'))
      .default(30)
      .argParser(integerIn(1, 3600)),
  )
  .addOption(
    new Option('--gallery-password <password>', 'password of the web gallery at /gallery (default: generated at the first start, printed once, kept hashed beside the token registry)').env(
      env('GALLERY_PASSWORD'),
    ),
  )
  .addOption(new Option('--no-gallery', 'turn the web gallery at /gallery off').env(env('NO_GALLERY')))
  .addOption(new Option('--sftp-port <port>', 'also receive files over SFTP on this port (user: the camera\'s name, password: one of its tokens); off unless given').env(env('SFTP_PORT')).argParser(integerIn(0, 65535)))
  .addOption(new Option('--sftp-host <host>', 'address the SFTP receiver listens on (default: --host)').env(env('SFTP_HOST')))
  .addOption(new Option('--sftp-max-sessions <n>', 'SFTP connections at once; more are refused').env(env('SFTP_MAX_SESSIONS')).default(64).argParser(integerIn(1, 100_000)))
  .addOption(new Option('--sftp-idle-timeout <seconds>', 'an SFTP session without a request for this long is closed').env(env('SFTP_IDLE_TIMEOUT')).default(120).argParser(integerIn(1, 86_400)))
  .addOption(
    new Option('--sftp-rsa-only', 'present only the RSA host key, for clients that would pick the Ed25519 key while the RSA fingerprint is the one they were given').env(env('SFTP_RSA_ONLY')),
  )
  .addOption(new Option('--ftp-port <port>', 'FTP receiver (explicit FTPS too, with --tls-cert/--tls-key): the port it listens on; off without it').env(env('FTP_PORT')).argParser(integerIn(0, 65535)))
  .addOption(
    new Option('--ftp-passive-ports <from-to>', "FTP: the ports passive data connections use, e.g. 50000-50100 (open them in the firewall); default any free port")
      .env(env('FTP_PASSIVE_PORTS'))
      .argParser(portRange),
  )
  .addOption(new Option('--ftp-public-address <ipv4>', 'FTP: the address passive replies (PASV) announce, when cameras reach this receiver through NAT').env(env('FTP_PUBLIC_ADDRESS')))
  .addOption(new Option('--ftp-require-tls', 'FTP: refuse log-in before AUTH TLS and transfers before PROT P (explicit FTPS only)').env(env('FTP_REQUIRE_TLS')))
  .addOption(new Option('--ftp-max-sessions <n>', 'FTP: sessions at once; more are refused with 421').env(env('FTP_MAX_SESSIONS')).default(DEFAULT_FTP_MAX_SESSIONS).argParser(integerIn(1, 100_000)))
  .addOption(
    new Option('--ftp-idle-timeout <seconds>', 'FTP: a session without a command, or a transfer without data, for this long is closed')
      .env(env('FTP_IDLE_TIMEOUT'))
      .default(DEFAULT_FTP_IDLE_TIMEOUT_MS / 1000)
      .argParser(integerIn(1, 3600)),
  )
  .addOption(
    new Option('--webhook <url>', 'send events (image.stored, camera.silent, camera.back) to this URL, signed as Standard Webhooks; repeat for more')
      .env(env('WEBHOOK'))
      .default([], 'none')
      .argParser(collect),
  )
  .addOption(new Option('--webhook-secret <secret>', 'the webhooks\' signing secret, "whsec_" + base64 (make one: echo "whsec_$(openssl rand -base64 32)")').env(env('WEBHOOK_SECRET')))
  .addOption(new Option('--mqtt <url>', 'publish events and each camera\'s state to this MQTT broker (mqtt://host:1883 or mqtts://host:8883)').env(env('MQTT')))
  .addOption(new Option('--mqtt-username <name>', 'MQTT: user name').env(env('MQTT_USERNAME')))
  .addOption(new Option('--mqtt-password <password>', 'MQTT: password (better in the environment variable than on the command line)').env(env('MQTT_PASSWORD')))
  .addOption(new Option('--mqtt-topic-prefix <prefix>', 'MQTT: topics are <prefix>/<camera>/events, …/state, …/image').env(env('MQTT_TOPIC_PREFIX')).default('images-to-s3'))
  .addOption(new Option('--mqtt-image', 'MQTT: also publish each camera\'s latest image (a JPEG thumbnail, retained) on <prefix>/<camera>/image').env(env('MQTT_IMAGE')))
  .addOption(new Option('--mqtt-ca <file>', 'MQTT: the CA certificate (PEM) that signed the broker\'s, for mqtts:// with a private CA').env(env('MQTT_CA')))
  .addOption(new Option('--no-mqtt-discovery', 'MQTT: publish no Home Assistant discovery messages').env(env('NO_MQTT_DISCOVERY')))
  .addOption(
    new Option('--event-max-age <hours>', 'events a webhook or broker has not taken this long are given up (they wait on disk until then)')
      .env(env('EVENT_MAX_AGE'))
      .default(48)
      .argParser(integerIn(1, 24 * 365)),
  )
  .addOption(
    new Option('--silence-grace <seconds>', 'a camera is silent (gallery: Overdue; events: camera.silent) after three usual intervals, and at least this much more than one')
      .env(env('SILENCE_GRACE'))
      .default(60)
      .argParser(integerIn(1, 86_400)),
  )
  .action(async (options: ServeOptions) => {
    if (!options.recipientPath.startsWith('/')) throw new InvalidArgumentError('--recipient-path must start with "/".');
    if (!servesInProcess(options.workers)) {
      process.exitCode = await runWorkers(options);
      return;
    }
    // Loaded here: the primary of --workers serves nothing itself and needs none of it.
    const { serve } = await import('./serve.js');
    await serve(options, workerRole(options.workers));
  });

const token = program.command('token').description('manage the access tokens cameras send as accessToken=…');

token
  .command('create <camera>')
  .description('create an access token for a camera (shown once); several per camera are fine, for rotation')
  .addOption(storeOption())
  .addOption(tokensOption())
  .option('--token <value>', 'register this existing token instead of generating one (e.g. the Axis reference stack\'s secret)')
  .option('--json', 'print {"camera":…,"token":…} as JSON')
  .action(async (camera: string, options: { store: string; tokens?: string; token?: string; json?: boolean }) => {
    const registry = await openRegistry(options);
    const created = await registry.create(camera, options.token ? { token: options.token } : {});
    await warnIfUnprotected(registry);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ camera: created.camera, token: created.token, id: created.id })}\n`);
    } else {
      process.stdout.write(
        [
          `Created token ${created.id} for camera "${created.camera}". It is shown only now.`,
          'Custom CGI parameters for the camera\'s "Send images through HTTPS" action:',
          `  accessToken=${created.token}`,
          '',
        ].join('\n'),
      );
    }
  });

token
  .command('list')
  .description('list tokens (ids and cameras; never the tokens themselves)')
  .addOption(storeOption())
  .addOption(tokensOption())
  .option('--json', 'print a JSON array')
  .action(async (options: { store: string; tokens?: string; json?: boolean }) => {
    const registry = await openRegistry(options);
    const content = await registry.content();
    const entries = content.tokens.map(toInfo);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(entries)}\n`);
      return;
    }
    if (content.sharedToken !== undefined && registry.sharedTokenCamera !== undefined) {
      process.stdout.write(`The secret's shared accessToken (the reference stack's) is valid for camera "${registry.sharedTokenCamera}".\n`);
    }
    if (entries.length === 0) {
      process.stdout.write('No tokens yet: `images-to-s3 token create <camera>` makes one.\n');
      return;
    }
    const width = Math.max(6, ...entries.map((entry) => entry.camera.length));
    process.stdout.write(`${'ID'.padEnd(16)}${'CAMERA'.padEnd(width + 2)}CREATED\n`);
    for (const entry of entries) process.stdout.write(`${entry.id.padEnd(16)}${entry.camera.padEnd(width + 2)}${entry.createdAt}${entry.createdBy ? `  (${entry.createdBy})` : ''}\n`);
  });

token
  .command('revoke <camera-or-id>')
  .description('revoke one token by its id, or every token of a camera; a running receiver refuses them within a second')
  .addOption(storeOption())
  .addOption(tokensOption())
  .action(async (target: string, options: { store: string; tokens?: string }) => {
    const registry = await openRegistry(options);
    const removed = await registry.revoke(target);
    if (removed.length > 0) await warnIfUnprotected(registry);
    if (removed.length === 0) {
      process.stderr.write(`No token has the id or camera "${target}". See \`images-to-s3 token list\`.\n`);
      process.exitCode = 1;
      return;
    }
    for (const entry of removed) process.stdout.write(`Revoked ${entry.id} (camera "${entry.camera}").\n`);
  });

program
  .command('gallery')
  .description('the web gallery at /gallery')
  .command('password')
  .description('set a new generated gallery password (shown once); every receiver on the same store ends its sessions within seconds')
  .addOption(storeOption())
  .addOption(tokensOption())
  .action(async (options: { store: string; tokens?: string }) => {
    const { gallery } = await stateFor(options);
    const password = await GalleryAccess.changePassword(gallery);
    process.stdout.write(
      [`New gallery password (shown this once; ${gallery.location} keeps only its hash):`, `  ${password}`, 'Sessions signed in with the old one have ended. Receivers started with --gallery-password keep theirs.', ''].join('\n'),
    );
  });

program
  .command('sftp')
  .description('the SFTP receiver (serve --sftp-port)')
  .command('fingerprints')
  .description("print the SFTP host keys' fingerprints, to give a camera when its SFTP recipient is created (makes the keys if there are none yet)")
  .addOption(storeOption())
  .addOption(tokensOption())
  .option('--json', 'print them as JSON, the SHA-256 in hex too')
  .action(async (options: { store: string; tokens?: string; json?: boolean }) => {
    const { sftpHostKeys } = await stateFor(options);
    // Loaded here: ssh2 costs every process of `serve` memory, which needs it only with --sftp-port.
    const [{ openHostKeys }, { fingerprintLines, fingerprintsJson }] = await Promise.all([import('../sftp/host-keys.js'), import('../sftp/describe.js')]);
    const opened = await openHostKeys(sftpHostKeys);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(fingerprintsJson(opened.keys))}\n`);
      return;
    }
    process.stdout.write(
      [
        ...(opened.created ? [`Made new SFTP host keys, kept in ${opened.location}; every receiver on this store presents them.`] : []),
        'SFTP host key fingerprints (Axis cameras pin the RSA key, by its SHA-256 or its MD5):',
        ...fingerprintLines(opened.keys).map((line) => `  ${line}`),
        '',
      ].join('\n'),
    );
  });

program
  .command('simulate')
  .description('send images (or a video clip) exactly as an Axis camera does, to try a receiver (ours or any other) or load it')
  .addOption(new Option('--recipient <url>', 'the recipient URL, as configured on the camera').env(env('RECIPIENT')).makeOptionMandatory())
  .addOption(new Option('--token <token>', 'access token, sent as accessToken=…').env(env('TOKEN')))
  .addOption(new Option('--count <n>', 'images to send').env(env('SIMULATE_COUNT')).default(10).argParser(integerIn(1, 10_000_000)))
  .addOption(new Option('--concurrency <n>', 'uploads in flight at once').env(env('SIMULATE_CONCURRENCY')).default(1).argParser(integerIn(1, 10_000)))
  .addOption(new Option('--image <file>', 'JPEG to send (default: a built-in 640×480 test card)').env(env('SIMULATE_IMAGE')))
  .addOption(
    new Option('--clip <file>', 'send this video clip (MKV, WebM or MP4) instead, as a raw body with its video type, as a clip action is assumed to')
      .env(env('SIMULATE_CLIP'))
      .conflicts('image'),
  )
  .addOption(
    new Option('--camera-filename <pattern>', 'the camera\'s filename pattern, with Axis modifiers (with --clip: clip%y-%m-%d_%H-%M-%S-%f_#s and the clip\'s extension)')
      .env(env('SIMULATE_CAMERA_FILENAME'))
      .default(AXIS_DEFAULT_FILENAME_PATTERN),
  )
  .addOption(new Option('--insecure', 'accept any TLS certificate (camera setting validate_server_cert=0)').env(env('SIMULATE_INSECURE')))
  .addOption(new Option('--ca <file>', "trust this PEM certificate for an HTTPS recipient (e.g. the receiver's own --tls-cert)").env(env('SIMULATE_CA')))
  .addOption(new Option('--timeout <seconds>', 'deadline for each upload').env(env('SIMULATE_TIMEOUT')).default(30).argParser(integerIn(1, 3600)))
  .option('--json', 'print the summary as JSON')
  .action(
    async (
      options: { recipient: string; token?: string; count: number; concurrency: number; image?: string; clip?: string; cameraFilename: string; insecure?: boolean; ca?: string; timeout: number; json?: boolean },
      command: Command,
    ) => {
      const body = await readFile(options.clip ?? options.image ?? SAMPLE_IMAGE);
      let contentType: string | undefined;
      let filenamePattern = options.cameraFilename;
      if (options.clip !== undefined) {
        // As a camera does: the video type of what it recorded, told here by the file's bytes.
        const type = mediaTypeForBytes(body.subarray(0, SIGNATURE_BYTES));
        if (type?.kind !== 'clip') throw new InvalidArgumentError(`--clip ${options.clip}: not a video clip of an accepted type (Matroska, WebM or MP4, by its bytes).`);
        contentType = type.mediaType;
        if (command.getOptionValueSource('cameraFilename') === 'default') filenamePattern = clipFilenamePattern(type.extensions[0]!);
      }
      const summary = await simulate({
        recipient: options.recipient,
        ...(options.token !== undefined && { token: options.token }),
        count: options.count,
        concurrency: options.concurrency,
        image: body,
        ...(contentType !== undefined && { contentType }),
        filenamePattern,
        insecure: options.insecure ?? false,
        ...(options.ca !== undefined && { ca: await readFile(options.ca) }),
        timeoutMs: options.timeout * 1000,
        hostName: os.hostname(),
      });
      process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
      if (summary.accepted !== summary.sent) process.exitCode = 1;
    },
  );

addCameraCommand(program);

try {
  await program.parseAsync();
} catch (error) {
  process.stderr.write(`images-to-s3: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
// A worker of `serve --workers` (see ./workers.ts) is done: its channel to the primary would keep it running.
cluster.worker?.disconnect();
