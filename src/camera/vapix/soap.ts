/**
 * SOAP 1.2 envelopes for VAPIX, built and read with a namespace-aware XML DOM
 * (`@xmldom/xmldom`): elements are matched by namespace URI and local name, never by prefix,
 * because devices answer with `aa:`/`aev:` and other servers with whatever prefix they like.
 * Every text and attribute value goes through the serializer, so it is always escaped.
 *
 * @module
 */

import { DOMImplementation, DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Document as XmlDocument, Element as XmlElement } from '@xmldom/xmldom';

import type { SoapFault } from './errors.js';

export type { XmlElement };

/** SOAP 1.2 envelope namespace. */
export const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
/** SOAP 1.1 envelope namespace, accepted in answers from older firmware. */
export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
/** VAPIX action service. */
export const ACTION1_NS = 'http://www.axis.com/vapix/ws/action1';
/** VAPIX event service. */
export const EVENT1_NS = 'http://www.axis.com/vapix/ws/event1';
/** WS-BaseNotification (filters of action rules). */
export const WSNT_NS = 'http://docs.oasis-open.org/wsn/b-2';
/** ONVIF topic namespace (`tns1:`). */
export const TNS1_NS = 'http://www.onvif.org/ver10/topics';
/** Axis topic namespace (`tnsaxis:`). */
export const TNSAXIS_NS = 'http://www.axis.com/2009/event/topics';
/** WS-Topics (the `wstop:TopicSet` of `GetEventInstances`, its `wstop:topic` marks). */
export const WSTOP_NS = 'http://docs.oasis-open.org/wsn/t-1';

/**
 * The prefixes topics are written with, whatever prefixes a camera answers with:
 * `tns1:VideoSource/MotionAlarm`, `tnsaxis:Storage/Disruption`.
 */
export const TOPIC_PREFIXES: Readonly<Record<string, string>> = { [TNS1_NS]: 'tns1', [TNSAXIS_NS]: 'tnsaxis' };
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** The prefixes used in what we send; answers may use any others. */
const PREFIXES: Record<string, string> = {
  [SOAP12_NS]: 'SOAP-ENV',
  [ACTION1_NS]: 'aa',
  [EVENT1_NS]: 'aev',
  [WSNT_NS]: 'wsnt',
  [TNS1_NS]: 'tns1',
  [TNSAXIS_NS]: 'tnsaxis',
};

/** An element to build: namespace, local name, and either text or child elements. */
export interface XmlNode {
  ns: string;
  name: string;
  attributes?: Record<string, string>;
  /** Namespaces declared on this element (prefix → URI), for QNames in its text. */
  namespaces?: Record<string, string>;
  content?: string | XmlNode[];
}

/**
 * Shorthand for an {@link XmlNode}.
 *
 * @example
 * xml(ACTION1_NS, 'Parameter', [], { Name: 'qos', Value: '0' })
 */
export function xml(ns: string, name: string, content?: string | XmlNode[], attributes?: Record<string, string>): XmlNode {
  return { ns, name, ...(content !== undefined && { content }), ...(attributes !== undefined && { attributes }) };
}

function appendNode(document: XmlDocument, parent: XmlElement, node: XmlNode): void {
  const prefix = PREFIXES[node.ns];
  const element = document.createElementNS(node.ns, prefix === undefined ? node.name : `${prefix}:${node.name}`);
  for (const [declared, uri] of Object.entries(node.namespaces ?? {})) element.setAttributeNS(XMLNS_NS, `xmlns:${declared}`, uri);
  for (const [name, value] of Object.entries(node.attributes ?? {})) element.setAttribute(name, value);
  if (typeof node.content === 'string') element.appendChild(document.createTextNode(node.content));
  else for (const child of node.content ?? []) appendNode(document, element, child);
  parent.appendChild(element);
}

/**
 * A complete SOAP 1.2 request whose Body holds `operation`. Every namespace of {@link PREFIXES}
 * is declared on the Envelope, so QNames inside text (the topic expression
 * `tns1:UserAlarm/tnsaxis:Recurring/Pulse`) resolve.
 */
export function buildSoapEnvelope(operation: XmlNode): string {
  const document = new DOMImplementation().createDocument(SOAP12_NS, `${PREFIXES[SOAP12_NS]}:Envelope`, null);
  const envelope = document.documentElement as XmlElement;
  for (const [ns, prefix] of Object.entries(PREFIXES)) {
    if (ns !== SOAP12_NS) envelope.setAttributeNS(XMLNS_NS, `xmlns:${prefix}`, ns);
  }
  const body = document.createElementNS(SOAP12_NS, `${PREFIXES[SOAP12_NS]}:Body`);
  envelope.appendChild(body);
  appendNode(document, body, operation);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(document)}`;
}

/** Thrown by {@link parseXml} for anything that is not well-formed, namespace-valid XML. */
export class XmlSyntaxError extends Error {
  override readonly name = 'XmlSyntaxError';
}

/**
 * Parses `text` as namespace-aware XML. Refuses document type declarations (no entity
 * expansion from a device) and anything not well-formed.
 */
export function parseXml(text: string): XmlDocument {
  if (/<!DOCTYPE/i.test(text)) throw new XmlSyntaxError('document type declarations are not accepted');
  let document: XmlDocument;
  try {
    document = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new XmlSyntaxError(message);
      },
    }).parseFromString(text, 'application/xml');
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^Reporting \w+ "?|"? caused .*$/gs, '');
    throw new XmlSyntaxError(`not well-formed XML: ${message.split('\n')[0]}`);
  }
  if (!document.documentElement) throw new XmlSyntaxError('no root element');
  return document;
}

/** What a SOAP response body holds: an operation's answer or a fault. */
export type SoapBody = { kind: 'content'; element: XmlElement | undefined } | { kind: 'fault'; fault: SoapFault };

/**
 * Reads a SOAP 1.2 (or 1.1) envelope.
 *
 * @throws {@link XmlSyntaxError} when it is not XML or not a SOAP envelope.
 */
export function readSoapEnvelope(text: string): SoapBody {
  const root = parseXml(text).documentElement as XmlElement;
  const envelopeNs = root.namespaceURI;
  if (root.localName !== 'Envelope' || (envelopeNs !== SOAP12_NS && envelopeNs !== SOAP11_NS)) {
    throw new XmlSyntaxError(`expected a SOAP Envelope, got <${root.tagName}> in namespace ${envelopeNs ?? '(none)'}`);
  }
  const body = childElement(root, envelopeNs, 'Body');
  if (!body) throw new XmlSyntaxError('the SOAP Envelope has no Body');
  const first = elementChildren(body)[0];
  if (first && first.namespaceURI === envelopeNs && first.localName === 'Fault') {
    return { kind: 'fault', fault: envelopeNs === SOAP12_NS ? readSoap12Fault(first) : readSoap11Fault(first) };
  }
  return { kind: 'content', element: first };
}

function localPartOfQName(value: string): string {
  return value.trim().split(':').pop() ?? '';
}

function readSoap12Fault(fault: XmlElement): SoapFault {
  const code = childElement(fault, SOAP12_NS, 'Code');
  const subcodes: string[] = [];
  let subcode = code ? childElement(code, SOAP12_NS, 'Subcode') : undefined;
  while (subcode) {
    const value = childElement(subcode, SOAP12_NS, 'Value');
    if (value) subcodes.push(localPartOfQName(textOf(value)));
    subcode = childElement(subcode, SOAP12_NS, 'Subcode');
  }
  const reason = childElement(fault, SOAP12_NS, 'Reason');
  const texts = reason ? childElements(reason, SOAP12_NS, 'Text') : [];
  const english = texts.find((text) => (text.getAttributeNS('http://www.w3.org/XML/1998/namespace', 'lang') ?? '').startsWith('en'));
  const detail = childElement(fault, SOAP12_NS, 'Detail');
  const codeValue = code ? childElement(code, SOAP12_NS, 'Value') : undefined;
  return {
    code: codeValue ? localPartOfQName(textOf(codeValue)) : 'Unknown',
    subcodes,
    reason: collapse(textOf(english ?? texts[0])),
    ...(detail && collapse(textOf(detail)) !== '' && { detail: collapse(textOf(detail)) }),
  };
}

function readSoap11Fault(fault: XmlElement): SoapFault {
  const byName = (name: string): XmlElement | undefined => elementChildren(fault).find((child) => child.localName === name);
  const detail = collapse(textOf(byName('detail')));
  return {
    code: localPartOfQName(textOf(byName('faultcode'))) || 'Unknown',
    subcodes: [],
    reason: collapse(textOf(byName('faultstring'))),
    ...(detail !== '' && { detail }),
  };
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The element children of `parent`, in document order. */
export function elementChildren(parent: XmlElement): XmlElement[] {
  const result: XmlElement[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === node.ELEMENT_NODE) result.push(node as XmlElement);
  }
  return result;
}

/**
 * Children named `localName` in namespace `ns`. Children without any namespace match too:
 * a server whose schema leaves local elements unqualified still answers by name.
 */
export function childElements(parent: XmlElement, ns: string, localName: string): XmlElement[] {
  return elementChildren(parent).filter(
    (child) => child.localName === localName && (child.namespaceURI === ns || child.namespaceURI === null),
  );
}

/** The first of {@link childElements}, if any. */
export function childElement(parent: XmlElement, ns: string, localName: string): XmlElement | undefined {
  return childElements(parent, ns, localName)[0];
}

/** Descendants named `localName` in namespace `ns` (or none), in document order. */
export function descendantElements(parent: XmlElement, ns: string, localName: string): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (element: XmlElement): void => {
    for (const child of elementChildren(element)) {
      if (child.localName === localName && (child.namespaceURI === ns || child.namespaceURI === null)) found.push(child);
      visit(child);
    }
  };
  visit(parent);
  return found;
}

/** The text content of `element` (empty when absent). */
export function textOf(element: XmlElement | undefined): string {
  return element?.textContent ?? '';
}

/**
 * Resolves the QName steps of a topic expression against the namespaces in scope at
 * `element`, e.g. `tns1:UserAlarm/tnsaxis:Recurring/Pulse` →
 * `{http://www.onvif.org/ver10/topics}UserAlarm/{http://www.axis.com/2009/event/topics}Recurring/Pulse`.
 * Unprefixed steps stay as they are; an unknown prefix is kept as `prefix:` so the result
 * never matches a known topic by accident.
 */
export function resolveTopicExpression(expression: string, element: XmlElement): string {
  return expression
    .trim()
    .split('/')
    .map((step) => {
      const colon = step.indexOf(':');
      if (colon < 0) return step;
      const prefix = step.slice(0, colon);
      const uri = element.lookupNamespaceURI(prefix);
      return uri === null ? step : `{${uri}}${step.slice(colon + 1)}`;
    })
    .join('/');
}
