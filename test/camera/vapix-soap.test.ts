import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ACTION1_NS,
  buildSoapEnvelope,
  childElement,
  childElements,
  parseXml,
  readSoapEnvelope,
  resolveTopicExpression,
  SOAP12_NS,
  textOf,
  TNS1_NS,
  TNSAXIS_NS,
  xml,
  XmlSyntaxError,
} from '../../src/camera/vapix/soap.js';
import type { XmlElement } from '../../src/camera/vapix/soap.js';

describe('buildSoapEnvelope', () => {
  it('escapes every value, in text and in attributes, so it reads back unchanged', () => {
    const nasty = 'a&b <c> "d" \'e\' ]]> &amp; \u00e4\u20ac';
    const text = buildSoapEnvelope(
      xml(ACTION1_NS, 'AddRecipientConfiguration', [
        xml(ACTION1_NS, 'Name', nasty),
        xml(ACTION1_NS, 'Parameters', [xml(ACTION1_NS, 'Parameter', [], { Name: 'upload_url', Value: nasty })]),
      ]),
    );
    assert.match(text, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
    assert.doesNotMatch(text, /a&b/);
    const body = readSoapEnvelope(text);
    assert.equal(body.kind, 'content');
    const operation = (body as { element: XmlElement }).element;
    assert.equal(operation.namespaceURI, ACTION1_NS);
    assert.equal(textOf(childElement(operation, ACTION1_NS, 'Name')), nasty);
    const parameter = childElement(childElement(operation, ACTION1_NS, 'Parameters') as XmlElement, ACTION1_NS, 'Parameter') as XmlElement;
    assert.equal(parameter.getAttribute('Value'), nasty);
  });

  it('declares the topic prefixes, so QNames in text resolve', () => {
    const text = buildSoapEnvelope(xml(ACTION1_NS, 'GetActionRules'));
    const root = parseXml(text).documentElement as XmlElement;
    assert.equal(root.namespaceURI, SOAP12_NS);
    assert.equal(root.lookupNamespaceURI('tns1'), TNS1_NS);
    assert.equal(root.lookupNamespaceURI('tnsaxis'), TNSAXIS_NS);
  });
});

describe('readSoapEnvelope', () => {
  it('reads answers by namespace whatever the prefixes, default namespaces included', () => {
    for (const answer of [
      `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP12_NS}" xmlns:aa="${ACTION1_NS}"><SOAP-ENV:Body><aa:AddActionRuleResponse><aa:RuleID>7</aa:RuleID></aa:AddActionRuleResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
      `<e:Envelope xmlns:e="${SOAP12_NS}"><e:Body><x:AddActionRuleResponse xmlns:x="${ACTION1_NS}"><x:RuleID> 7 </x:RuleID></x:AddActionRuleResponse></e:Body></e:Envelope>`,
      `<Envelope xmlns="${SOAP12_NS}"><Body><AddActionRuleResponse xmlns="${ACTION1_NS}"><RuleID>7</RuleID></AddActionRuleResponse></Body></Envelope>`,
    ]) {
      const body = readSoapEnvelope(answer);
      assert.equal(body.kind, 'content');
      const element = (body as { element: XmlElement }).element;
      assert.equal(element.localName, 'AddActionRuleResponse');
      assert.equal(textOf(childElement(element, ACTION1_NS, 'RuleID')).trim(), '7');
    }
  });

  it('does not take an element of another namespace for one of action1', () => {
    const body = readSoapEnvelope(
      `<e:Envelope xmlns:e="${SOAP12_NS}"><e:Body><a:R xmlns:a="${ACTION1_NS}" xmlns:o="urn:other"><o:RuleID>1</o:RuleID></a:R></e:Body></e:Envelope>`,
    );
    assert.deepEqual(childElements((body as { element: XmlElement }).element, ACTION1_NS, 'RuleID'), []);
  });

  it('reads a SOAP 1.2 fault: code, subcodes and the English reason', () => {
    const body = readSoapEnvelope(
      `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP12_NS}" xmlns:aa="${ACTION1_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault>` +
        '<SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>aa:InvalidConditionFilterFault</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>' +
        '<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="sv">Fel</SOAP-ENV:Text><SOAP-ENV:Text xml:lang="en">The condition\n  is invalid</SOAP-ENV:Text></SOAP-ENV:Reason>' +
        '<SOAP-ENV:Detail><aa:Info>more</aa:Info></SOAP-ENV:Detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>',
    );
    assert.deepEqual(body, { kind: 'fault', fault: { code: 'Sender', subcodes: ['InvalidConditionFilterFault'], reason: 'The condition is invalid', detail: 'more' } });
  });

  it('reads a SOAP 1.1 fault from older firmware', () => {
    const body = readSoapEnvelope(
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Bad request</faultstring></s:Fault></s:Body></s:Envelope>',
    );
    assert.deepEqual(body, { kind: 'fault', fault: { code: 'Client', subcodes: [], reason: 'Bad request' } });
  });

  it('refuses what is not a SOAP envelope, undeclared prefixes and document type declarations', () => {
    assert.throws(() => readSoapEnvelope('<html><body>Not found</body></html>'), XmlSyntaxError);
    assert.throws(() => readSoapEnvelope('not xml at all'), XmlSyntaxError);
    assert.throws(() => readSoapEnvelope(`<e:Envelope xmlns:e="${SOAP12_NS}"><e:Body><aa:X/></e:Body></e:Envelope>`), XmlSyntaxError);
    assert.throws(
      () => readSoapEnvelope(`<!DOCTYPE e [<!ENTITY x "y">]><e:Envelope xmlns:e="${SOAP12_NS}"><e:Body/></e:Envelope>`),
      /document type declarations/,
    );
    assert.throws(() => readSoapEnvelope(`<e:Envelope xmlns:e="${SOAP12_NS}"></e:Envelope>`), /no Body/);
  });
});

describe('resolveTopicExpression', () => {
  it('resolves each prefixed step against the namespaces in scope', () => {
    const root = parseXml(`<r xmlns:p="${TNS1_NS}" xmlns:q="${TNSAXIS_NS}"><t>p:UserAlarm/q:Recurring/Pulse</t></r>`).documentElement as XmlElement;
    const topic = childElement(root, '', 't') as XmlElement;
    assert.equal(resolveTopicExpression(textOf(topic), topic), `{${TNS1_NS}}UserAlarm/{${TNSAXIS_NS}}Recurring/Pulse`);
    assert.equal(resolveTopicExpression('zz:UserAlarm/Pulse', topic), 'zz:UserAlarm/Pulse');
  });
});
