// Certplane console: the key pair and the certificate signing request, made in the browser.
//
// generateCsr() creates a key pair with WebCrypto, builds a PKCS#10 CertificationRequest (RFC 2986) for it, signs
// it with the new private key and hands back two PEM texts: the CSR, which is the only thing the console sends to
// the server, and the private key (PKCS#8), which the console offers to the user as a download and then forgets.
// The key is generated extractable for that one reason: nothing in the console keeps it, stores it or sends it.
//
// The module has no dependencies: plain ES module, no build step, no third-party code, CSP-safe (no eval, no inline
// script, no data: navigation). WebCrypto can make and use keys but cannot write ASN.1, and there is no well-kept,
// dependency-free ASN.1/DER ES module that can be vendored without a bundler (the maintained ones — pkijs/asn1js,
// node-forge, jsrsasign — are large, CommonJS or bundle-only). So the few DER constructs a CSR needs are encoded
// here, by a minimal encoder (`der` below) that only *writes* DER; it is exercised by
// tests/browser/test_csr_in_browser.py in Chromium against known encodings and against the cryptography library's
// CSR parser and the server's own CSR reader (services/enrollment/csr.py).

// ---- offered key types -----------------------------------------------------------------------------------------

/** The key types the console offers, in the order to show them; the first (`ec-p256`) is the default. */
export const KEY_TYPES = Object.freeze([
  Object.freeze({ id: "ec-p256", label: "ECDSA P-256 (recommended)", default: true }),
  Object.freeze({ id: "ec-p384", label: "ECDSA P-384", default: false }),
  Object.freeze({ id: "rsa-2048", label: "RSA 2048-bit", default: false }),
  Object.freeze({ id: "rsa-3072", label: "RSA 3072-bit", default: false }),
  Object.freeze({ id: "rsa-4096", label: "RSA 4096-bit", default: false }),
]);

export const DEFAULT_KEY_TYPE = "ec-p256";

// WebCrypto parameters and the CSR's signatureAlgorithm for each key type.
const ALGORITHMS = {
  "ec-p256": { gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" },
               sigOid: "1.2.840.10045.4.3.2", coordinateBytes: 32 },              // ecdsa-with-SHA256
  "ec-p384": { gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" },
               sigOid: "1.2.840.10045.4.3.3", coordinateBytes: 48 },              // ecdsa-with-SHA384
};
for (const bits of [2048, 3072, 4096]) {
  ALGORITHMS[`rsa-${bits}`] = {
    gen: { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]),
           hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5" },
    sigOid: "1.2.840.113549.1.1.11",                                              // sha256WithRSAEncryption
  };
}

// ---- a minimal DER encoder (X.690), writing only ---------------------------------------------------------------
//
// Every function returns a Uint8Array holding one complete encoding (tag, length, content). Only what a CSR needs:
// universal types with low tag numbers, and context-specific tags [0]..[30].

const TAG = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8_STRING: 0x0c, PRINTABLE_STRING: 0x13, IA5_STRING: 0x16, SEQUENCE: 0x30, SET: 0x31,
};

function concat(parts) {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The length octets: short form below 128, else long form (0x80 | count, then the length big-endian). */
function encodeLength(length) {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad DER length ${length}`);
  if (length < 0x80) return Uint8Array.of(length);
  const bytes = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One tag-length-value. `content` is a Uint8Array (or an array of them, concatenated). */
function tlv(tag, content) {
  const body = Array.isArray(content) ? concat(content) : content;
  return concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

/** Lexicographic comparison of two encodings, as DER orders the elements of a SET OF (X.690 11.6). */
function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** A positive INTEGER from big-endian unsigned bytes (or a non-negative safe integer): the content is the minimal
 *  two's complement form — leading zero octets dropped, and one 0x00 put back when the top bit would read as a
 *  sign. Zero is the single octet 0x00. */
function unsignedBytes(value) {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`INTEGER ${value}: non-negative only`);
    const bytes = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    return Uint8Array.from(bytes);
  }
  return value;
}

function integer(value) {
  let bytes = unsignedBytes(value);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;     // strip leading zeros, keep at least one
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Uint8Array.of(0);
  if (bytes[0] & 0x80) bytes = concat([Uint8Array.of(0), bytes]);     // keep it positive
  return tlv(TAG.INTEGER, bytes);
}

/** An OBJECT IDENTIFIER from dotted text: the first two arcs as 40·X + Y, every arc base 128, high bit set on all
 *  but the last octet of an arc. BigInt, so arcs of any size (2.25.<uuid>) encode correctly. */
function oid(dotted) {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new Error(`bad OID ${dotted}`);
  const arcs = dotted.split(".").map((a) => BigInt(a));
  if (arcs[0] < 2n && arcs[1] > 39n) throw new Error(`bad OID ${dotted}: second arc above 39`);
  const values = [arcs[0] * 40n + arcs[1], ...arcs.slice(2)];
  const out = [];
  for (let v of values) {
    const arc = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) arc.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...arc);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

const sequence = (...items) => tlv(TAG.SEQUENCE, items);
/** SET OF: DER wants the element encodings in ascending order. */
const set = (...items) => tlv(TAG.SET, [...items].sort(compareBytes));
const nullValue = () => Uint8Array.of(TAG.NULL, 0);
const boolean = (value) => tlv(TAG.BOOLEAN, Uint8Array.of(value ? 0xff : 0));
const octetString = (bytes) => tlv(TAG.OCTET_STRING, bytes);
/** BIT STRING of whole octets: the leading "unused bits" octet is 0. */
const bitString = (bytes) => tlv(TAG.BIT_STRING, [Uint8Array.of(0), bytes]);
const utf8String = (text) => tlv(TAG.UTF8_STRING, new TextEncoder().encode(text));

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
function printableString(text) {
  if (!PRINTABLE.test(text)) throw new Error(`"${text}" has characters a PrintableString cannot hold`);
  return tlv(TAG.PRINTABLE_STRING, new TextEncoder().encode(text));
}

/** The octets of ASCII text (what an IA5String holds). */
function ascii(text) {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new Error(`"${text}" is not ASCII`);
  return new TextEncoder().encode(text);
}
const ia5String = (text) => tlv(TAG.IA5_STRING, ascii(text));

/** A context-specific tag [n]: constructed (0xA0 | n) around encodings, or primitive (0x80 | n) — the IMPLICIT
 *  form of a primitive type — around raw content octets. */
function context(n, content, constructed = true) {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`context tag [${n}] not supported`);
  return tlv((constructed ? 0xa0 : 0x80) | n, content);
}

/** The encoder, exported for the tests and for any other console screen that must write a little DER. */
export const der = Object.freeze({
  encodeLength, tlv, sequence, set, integer, oid, nullValue, boolean, octetString, bitString, utf8String,
  printableString, ia5String, context, concat,
});

// ---- names -----------------------------------------------------------------------------------------------------

// Subject attributes in the order they are written, with their OIDs and upper bounds (RFC 5280 Appendix A).
const SUBJECT_ATTRIBUTES = [
  { key: "C", oid: "2.5.4.6", max: 2, printable: true, label: "country" },
  { key: "ST", oid: "2.5.4.8", max: 128, label: "state or province" },
  { key: "L", oid: "2.5.4.7", max: 128, label: "locality" },
  { key: "O", oid: "2.5.4.10", max: 64, label: "organization" },
  { key: "OU", oid: "2.5.4.11", max: 64, label: "organizational unit" },
  { key: "CN", oid: "2.5.4.3", max: 64, label: "common name" },
];

function text(value) {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new Error("names must be text");
  return value.trim();
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName, one attribute per RDN (as OpenSSL writes them). */
function encodeSubject(subject, commonName) {
  const values = { ...subject, CN: commonName };
  const rdns = [];
  for (const attr of SUBJECT_ATTRIBUTES) {
    let value = text(values[attr.key]);
    if (!value) continue;
    if (attr.key === "C") {
      if (!/^[A-Za-z]{2}$/.test(value)) throw new Error("the country must be a two-letter ISO 3166 code, e.g. DE");
      value = value.toUpperCase();
    }
    if ([...value].length > attr.max) {
      throw new Error(`the ${attr.label} is longer than ${attr.max} characters`);
    }
    const encoded = attr.printable ? printableString(value) : utf8String(value);
    rdns.push(set(sequence(oid(attr.oid), encoded)));
  }
  return sequence(...rdns);
}

/** IPv4 dotted-quad text as 4 octets, or null when the text is not one. */
function ipv4Bytes(value) {
  const parts = value.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

/** IPv6 text (RFC 4291 2.2: "::" once, an IPv4 tail allowed, brackets tolerated) as 16 octets, or null. */
function ipv6Bytes(value) {
  let v = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (v.includes("%")) return null;                                   // a zone id has no place in a certificate
  let tail = [];
  const lastColon = v.lastIndexOf(":");
  if (v.slice(lastColon + 1).includes(".")) {                         // ::ffff:192.0.2.1
    const four = ipv4Bytes(v.slice(lastColon + 1));
    if (!four) return null;
    tail = [(four[0] << 8) | four[1], (four[2] << 8) | four[3]];
    const prefix = v.slice(0, lastColon + 1);                         // "::ffff:" or "::"
    v = prefix.endsWith("::") ? prefix : prefix.slice(0, -1);         // drop the ":" before the IPv4 part
  }
  const halves = v.split("::");
  if (halves.length > 2) return null;
  const group = (s) => (s === "" ? [] : s.split(":"));
  const head = group(halves[0]);
  const rest = halves.length === 2 ? group(halves[1]) : [];
  const hex = /^[0-9A-Fa-f]{1,4}$/;
  if (![...head, ...rest].every((g) => hex.test(g))) return null;
  const given = head.length + rest.length + tail.length;
  let words;
  if (halves.length === 2) {
    if (given > 7) return null;                                        // "::" stands for at least one group
    words = [...head.map((g) => parseInt(g, 16)), ...new Array(8 - given).fill(0),
             ...rest.map((g) => parseInt(g, 16)), ...tail];
  } else {
    if (given !== 8) return null;
    words = [...head.map((g) => parseInt(g, 16)), ...tail];
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/** An IP address in text as its iPAddress octets (4 or 16), or null when the text is not an IP address. */
export function ipAddressBytes(value) {
  if (value.includes(":")) return ipv6Bytes(value);
  return ipv4Bytes(value);
}

/** A DNS name as the IA5String a dNSName holds: internationalised labels as their A-labels (punycode, via the
 *  browser's URL parser), a wildcard only as the whole leftmost label. The server normalises and judges the name
 *  again (contracts/names.py); this only refuses what cannot be encoded or is plainly not a host name. */
function dnsName(value) {
  let name = value.endsWith(".") ? value.slice(0, -1) : value;
  const wildcard = name.startsWith("*.");
  if (wildcard) name = name.slice(2);
  if (/[^\x00-\x7f]/.test(name)) {
    try {
      name = new URL(`http://${name}/`).hostname;
    } catch {
      throw new Error(`"${value}" is not a valid DNS name`);
    }
  }
  name = name.toLowerCase();
  const labels = name.split(".");
  const ok = name.length > 0 && name.length <= 253 - (wildcard ? 2 : 0) &&
    labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
  if (!ok) throw new Error(`"${value}" is not a valid DNS name or IP address`);
  return wildcard ? `*.${name}` : name;
}

/** The subjectAltName entries for `sans` (trimmed, empty ones dropped, repeats dropped, order kept). */
function generalNames(sans) {
  const seen = new Set();
  const entries = [];
  for (const raw of sans) {
    const value = text(raw);
    if (!value) continue;
    const ip = /^[0-9.]+$/.test(value) || value.includes(":") ? ipAddressBytes(value) : null;
    if (ip === null && (/^[0-9.]+$/.test(value) || value.includes(":"))) {
      throw new Error(`"${value}" is not a valid IP address`);
    }
    const encoded = ip ? context(7, ip, false)                          // iPAddress [7] IMPLICIT OCTET STRING
                       : context(2, ascii(dnsName(value)), false);  // dNSName [2] IMPLICIT IA5String
    const key = Array.from(encoded).join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push(encoded);
  }
  return entries;
}

// ---- signature -------------------------------------------------------------------------------------------------

/** WebCrypto's ECDSA signature is r || s, each `size` octets (IEEE P1363); X.509 wants
 *  Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 2.2.3), INTEGER's leading-zero rules applied. */
export function ecdsaRawToDer(raw, size) {
  const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
  if (bytes.length !== 2 * size) throw new Error(`ECDSA signature of ${bytes.length} octets, expected ${2 * size}`);
  return sequence(integer(bytes.subarray(0, size)), integer(bytes.subarray(size)));
}

// ---- PEM -------------------------------------------------------------------------------------------------------

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function pem(label, bytes) {
  const lines = base64(bytes).match(/.{1,64}/g) || [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// ---- the request -----------------------------------------------------------------------------------------------

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";     // PKCS#9 extensionRequest
const OID_SUBJECT_ALT_NAME = "2.5.29.17";

/**
 * Generate a key pair and a signed PKCS#10 request for it.
 *
 * @param {object} options
 * @param {string} [options.keyType="ec-p256"]  one of KEY_TYPES' ids
 * @param {string} [options.commonName]         the subject CN (optional when `sans` names something)
 * @param {string[]} [options.sans]             DNS names (wildcards, IDNs) and IPv4/IPv6 addresses
 * @param {{C?, ST?, L?, O?, OU?: string}} [options.subject]  further subject attributes, each optional
 * @returns {Promise<{csrPem: string, privateKeyPem: string, keyType: string}>}
 *   csrPem: "CERTIFICATE REQUEST" PEM, the only thing to send; privateKeyPem: PKCS#8 "PRIVATE KEY" PEM, for the
 *   user to download and keep — send it nowhere.
 * Refused with an Error saying why: an unknown key type; no common name and no subject alternative name; a name
 * that cannot be encoded (bad IP address, bad DNS name, a country that is not two letters, too long a value).
 */
export async function generateCsr({ keyType = DEFAULT_KEY_TYPE, commonName, sans = [], subject = {} } = {}) {
  const algorithm = Object.prototype.hasOwnProperty.call(ALGORITHMS, keyType) ? ALGORITHMS[keyType] : null;
  if (!algorithm) {
    throw new Error(`unknown key type "${keyType}": choose one of ${KEY_TYPES.map((k) => k.id).join(", ")}`);
  }
  if (!Array.isArray(sans)) throw new Error("the subject alternative names must be a list");
  const cn = text(commonName);
  const names = generalNames(sans);
  if (!cn && names.length === 0) {
    throw new Error("a certificate request needs a name: give a common name or at least one subject " +
                    "alternative name (DNS name or IP address)");
  }
  const subjectDer = encodeSubject(subject || {}, cn);   // refuses bad attributes before any key is made
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error("this browser cannot generate keys here: WebCrypto needs a secure context (HTTPS or localhost)");
  }

  // extractable only so that the private key can be offered as a download below
  const keys = await crypto.subtle.generateKey(algorithm.gen, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));

  // attributes [0] IMPLICIT SET OF Attribute: the extensionRequest, when there are names for a subjectAltName.
  // The SAN is critical when the subject is empty (RFC 5280 4.2.1.6).
  const attributes = [];
  if (names.length) {
    const emptySubject = subjectDer.length === 2;
    const san = sequence(oid(OID_SUBJECT_ALT_NAME), ...(emptySubject ? [boolean(true)] : []),
                         octetString(sequence(...names)));
    attributes.push(sequence(oid(OID_EXTENSION_REQUEST), set(sequence(san))));
  }
  const info = sequence(integer(0), subjectDer, spki, context(0, [...attributes].sort(compareBytes)));

  let signature = new Uint8Array(await crypto.subtle.sign(algorithm.sign, keys.privateKey, info));
  if (algorithm.coordinateBytes) signature = ecdsaRawToDer(signature, algorithm.coordinateBytes);
  const signatureAlgorithm = algorithm.coordinateBytes
    ? sequence(oid(algorithm.sigOid))                        // ECDSA: parameters absent (RFC 5758 3.2)
    : sequence(oid(algorithm.sigOid), nullValue());           // RSA: parameters NULL (RFC 4055 5)
  const request = sequence(info, signatureAlgorithm, bitString(signature));

  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = pem("PRIVATE KEY", pkcs8);
  pkcs8.fill(0);                                              // the PEM text is now the only copy we hand out
  return { csrPem: pem("CERTIFICATE REQUEST", request), privateKeyPem, keyType };
}

// ---- download --------------------------------------------------------------------------------------------------

/**
 * Offer `text` as a file download: a Blob behind an object URL, clicked through a temporary <a download>. CSP-safe
 * (no data: navigation, no inline script, no window.open). The object URL is revoked once the click has been
 * handled, so the text does not stay reachable from the page.
 */
export function downloadText(filename, text, mime = "text/plain") {
  const blob = new Blob([text], { type: `${mime};charset=utf-8` });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  link.hidden = true;
  document.body.appendChild(link);
  try {
    link.click();
  } finally {
    link.remove();
    // Revoke on the next turn: some browsers start reading the Blob only after click() has returned.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
