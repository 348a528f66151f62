// dd0c dashboard: how the diff viewer shows a value. Attribute names that look secret
// (passwords, secrets, tokens, key material) and values the API already masked are never
// shown. Loaded before app.js (window.dd0cDiff); tests/dashboard require() it directly.
'use strict';

(function (root) {
  // Words that make an attribute secret, matched within the name's words joined by '_'
  // (`MasterUserPassword` → `master_user_password`).
  const SECRET_WORDS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'private_key', 'privatekey',
    'key_material', 'api_key', 'apikey', 'access_key', 'credential', 'auth_string', 'client_secret'];
  // Masks dd0c (ingest: `[REDACTED]`) and CloudTrail (`HIDDEN_DUE_TO_SECURITY_REASONS`) write.
  const MASKED_VALUES = ['[REDACTED]', 'HIDDEN_DUE_TO_SECURITY_REASONS'];
  const MASK = '•••••• (masked)';

  function snake(name) {
    return String(name).replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toLowerCase();
  }

  // Whether an attribute (or a key inside a value) names a secret. Names of things that point
  // at a secret (`…_arn`, `…_id`, `…_name`) are not secrets themselves.
  function isSecretAttribute(name) {
    const s = snake(name);
    if (/(_arn|_id|_name)$/.test(s)) return false;
    return SECRET_WORDS.some((w) => s.includes(w));
  }

  function isMaskedValue(v) {
    return typeof v === 'string' && MASKED_VALUES.includes(v.trim());
  }

  // The value with every secret-named key's value and every already-masked string replaced
  // by the mask; the shape (objects, lists) kept.
  function maskValue(value) {
    if (isMaskedValue(value)) return MASK;
    if (Array.isArray(value)) return value.map(maskValue);
    if (value && typeof value === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = isSecretAttribute(k) && v !== null ? MASK : maskValue(v);
      return out;
    }
    return value;
  }

  // The text of one side of a diff line: `absent` for null, strings as they are, the rest as
  // indented JSON; a secret attribute's whole value masked.
  function showValue(attribute, value) {
    if (value === null || value === undefined) return { text: '— (absent)', masked: false, absent: true };
    if (isSecretAttribute(attribute) || isMaskedValue(value)) return { text: MASK, masked: true, absent: false };
    const shown = maskValue(value);
    const text = typeof shown === 'string' ? shown : JSON.stringify(shown, null, 2);
    return { text, masked: text.includes(MASK), absent: false };
  }

  const api = { isSecretAttribute, maskValue, showValue, MASK };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.dd0cDiff = api;
})(typeof window !== 'undefined' ? window : globalThis);
