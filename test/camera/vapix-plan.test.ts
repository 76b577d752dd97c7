import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { maskSecret, redactSecrets } from '../../src/camera/vapix/errors.js';
import { describePulseInterval, InvalidPulseIntervalError, parsePulseInterval, pulseICalendar, readICalendar } from '../../src/camera/vapix/pulse.js';
import { configurationNameFor } from '../../src/camera/vapix/setup-name.js';
import { cameraNameFromAddress, eventIdInMessageContent, planCameraSetup, pulseMessageContent, pulseRuleFilters } from '../../src/camera/vapix/setup.js';
import { isValidCameraName } from '../../src/core/camera-name.js';

describe('pulse intervals', () => {
  it('parses --every values and describes them', () => {
    const cases: [string, string, string][] = [
      ['30s', 'RRULE:FREQ=SECONDLY;INTERVAL=30', 'every 30 seconds'],
      ['1m', 'RRULE:FREQ=MINUTELY;INTERVAL=1', 'every minute'],
      ['5 min', 'RRULE:FREQ=MINUTELY;INTERVAL=5', 'every 5 minutes'],
      ['2h', 'RRULE:FREQ=HOURLY;INTERVAL=2', 'every 2 hours'],
      ['1D', 'RRULE:FREQ=DAILY;INTERVAL=1', 'every day'],
      ['1w', 'RRULE:FREQ=WEEKLY;INTERVAL=1', 'every week'],
    ];
    for (const [input, rule, words] of cases) {
      const pulse = parsePulseInterval(input);
      assert.equal(pulseICalendar(pulse), `DTSTART:19700101T000000\n${rule}`);
      assert.equal(describePulseInterval(pulse), words);
      assert.deepEqual(readICalendar(pulseICalendar(pulse)), { pulse, hasEnd: false });
    }
    for (const bad of ['', '0m', '1', 'm', '1y', '-1m', '1.5h', '100001s']) assert.throws(() => parsePulseInterval(bad), InvalidPulseIntervalError, bad);
  });

  it('reads schedules written with spaces instead of newlines, intervals, and rules it does not set', () => {
    assert.deepEqual(readICalendar('DTSTART:19700101T000000 RRULE:FREQ=HOURLY'), { pulse: { frequency: 'HOURLY', interval: 1 }, hasEnd: false });
    assert.deepEqual(readICalendar('DTSTART:20111212T060000 DTEND:20111212T090000 RRULE:FREQ=WEEKLY;BYDAY=MO'), { hasEnd: true });
    assert.deepEqual(readICalendar('DTSTART:19700101T000000'), { hasEnd: false });
  });
});

describe('names', () => {
  it('gives every setup a recognisable name', () => {
    assert.equal(configurationNameFor(), 'images-to-s3');
    assert.equal(configurationNameFor('front-door'), 'images-to-s3 front-door');
  });

  it('derives a valid camera name from any address', () => {
    const cases: [string, string][] = [
      ['http://192.168.0.90/', '192.168.0.90'],
      ['https://cam-1.site.example:8443/', 'cam-1.site.example-8443'],
      ['http://[fe80::1]:8080/', 'fe80--1-8080'],
    ];
    for (const [address, name] of cases) {
      assert.equal(cameraNameFromAddress(new URL(address)), name);
      assert.ok(isValidCameraName(name), name);
    }
  });

  it('finds the scheduled-event ID in the filter it writes, and in other spellings', () => {
    assert.equal(eventIdInMessageContent(pulseMessageContent('17')), '17');
    assert.equal(eventIdInMessageContent("boolean(//SimpleItem[@Value='3' and @Name='id'])"), '3');
    assert.equal(eventIdInMessageContent('boolean(//SimpleItem[@Name="port" and @Value="1"])'), undefined);
  });
});

describe('planCameraSetup', () => {
  it('repeats the recipient\'s parameters in the action and lists every parameter, unused ones empty', () => {
    const plan = planCameraSetup({ recipient: 'https://r.example/', token: 'abcdefghijklmnop' });
    for (const [name, value] of Object.entries(plan.recipient.parameters)) assert.equal(plan.action.parameters[name], value, name);
    assert.deepEqual(Object.keys(plan.action.parameters), [
      'stream_options',
      'pre_duration',
      'post_duration',
      'max_images',
      'create_folder',
      'filename',
      'max_sequence_number',
      'custom_params',
      'upload_url',
      'validate_server_cert',
      'login',
      'password',
      'proxy_host',
      'proxy_port',
      'proxy_login',
      'proxy_password',
      'qos',
    ]);
    assert.equal(plan.action.parameters.filename, 'image%y-%m-%d_%H-%M-%S-%f_#s.jpg', 'time and sequence number: images never collide');
    assert.deepEqual(plan.rule(pulseRuleFilters('7'), '9').startEvent?.messageContent, 'boolean(//SimpleItem[@Name="id" and @Value="7"])');
    assert.equal(plan.rule(pulseRuleFilters('7'), '9').primaryAction, '9');
  });
});

describe('secrets in messages', () => {
  it('masks known secrets and any accessToken value', () => {
    assert.equal(maskSecret('Q2x9abcdefghijkl'), 'Q2x…');
    assert.equal(maskSecret('short'), '…');
    assert.equal(
      redactSecrets('login as root/hunter2hunter2 to https://r/?accessToken=Q2x9abcdefghijkl&x=1', ['hunter2hunter2']),
      'login as root/hun… to https://r/?accessToken=Q2x…&x=1',
    );
  });

  it('masks a secret where it stands alone and leaves the words around it whole', () => {
    assert.equal(redactSecrets('wrong user name or password for root:pass (pass)', ['pass']), 'wrong user name or password for root:… (…)');
    assert.equal(redactSecrets('a$b.c* in "a$b.c*"', ['a$b.c*']), '… in "…"');
  });
});
