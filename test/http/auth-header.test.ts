import t from 'tap'
import { parseTokenHeader } from '@gatehouse/session-reader/credentials'

t.test('reads every form Rails authenticate_with_http_token accepts', async (t) => {
  const accepted: Array<[string, string]> = [
    ['Token token=abc', 'abc'],
    ['Token token="abc"', 'abc'],
    ['Token token="abc", device="ios"', 'abc'],
    ['Token token=abc; device=ios', 'abc'],
    ['Token token=abc\tdevice=ios', 'abc'],
    ['Token token=abc,device=ios', 'abc'],
    ['Token abc', 'abc'],
    ['Token "abc"', 'abc'],
    ['Token   token=abc', 'abc'],
    ['Bearer abc', 'abc'],
    ['Bearer token=abc', 'abc'],
    ['token token=abc', 'abc'],
    ['TOKEN token=abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Token\ttoken=abc', 'abc'],
    ['Token token=a.b.c', 'a.b.c'],
    // Rails splits a param on its first "=" only, so padding survives.
    ['Token token=abc==', 'abc=='],
    // A first param that does not start with token= becomes the token, as in Rails.
    ['Token foo=bar', 'foo=bar'],
    ['Token , token=abc', 'abc'],
  ]
  for (const [header, token] of accepted) t.equal(parseTokenHeader(header), token, header)
})

t.test('finds no token in anything else', async (t) => {
  const rejected = [
    undefined,
    '',
    'Token',
    'Token ',
    'Token token=',
    'Token token=""',
    'Token ,;',
    'Bearer',
    'Tokenabc',
    'token=abc',
    'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
    'Digest username="x"',
    ' Token token=abc',
    'abc',
  ]
  for (const header of rejected) t.equal(parseTokenHeader(header), null, JSON.stringify(header))
})
