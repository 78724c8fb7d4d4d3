# frozen_string_literal: true

require 'json'
require_relative 'test_helper'

# Where a request carries its token, as Gatehouse reads it (test/http/auth-header.test.ts's cases).
class CredentialsTest < Minitest::Test
  C = Gatehouse::SessionReader::Credentials

  # The header cases every reader parses alike, shared with Gatehouse's own test (test/http/auth-header.test.ts).
  CASES = JSON.parse(File.read(File.expand_path('../../../contract/fixtures/token-header-cases.json', __dir__)))

  ACCEPTED = (CASES.fetch('accepted').map { |c| [c.fetch('header'), c.fetch('token')] } + [
    # A latin1 no-break space is whitespace to Node's \s, as Node decodes the header.
    ["Token\xA0token=abc".b, 'abc'],
    ["Token token=abc\xA0".b, 'abc']
  ]).freeze

  REJECTED = CASES.fetch('rejected').freeze

  def test_reads_every_form_rails_accepts
    ACCEPTED.each { |header, token| assert_equal token, C.parse_token_header(header), header.inspect }
  end

  def test_finds_no_token_in_anything_else
    REJECTED.each { |header| assert_nil C.parse_token_header(header), header.inspect }
  end

  def test_cookies_first_name_present_quotes_and_tossing
    names = C.cookie_names(secure: true, shared: true)[:session]
    assert_equal %w[__Host-gatehouse_session __Secure-gatehouse_session], names
    assert_equal 'abc', C.token_from_cookies('a=1; __Host-gatehouse_session="abc"; b=2', names)
    assert_equal 'host', C.token_from_cookies('__Secure-gatehouse_session=dom; __Host-gatehouse_session=host', names)
    assert_equal 'dom', C.token_from_cookies("__Secure-gatehouse_session=dom;\t__Host-gatehouse_session=", names)
    assert_equal C::AMBIGUOUS, C.token_from_cookies('__Host-gatehouse_session=a; __Host-gatehouse_session=b', names)
    assert_equal 'a', C.token_from_cookies('__Host-gatehouse_session=a; __Host-gatehouse_session=a', names)
    # Only spaces and tabs are trimmed: a no-break space makes another name.
    assert_nil C.token_from_cookies("\xA0__Host-gatehouse_session=planted".b, names)
    assert_nil C.token_from_cookies('gatehouse_session=dev', names)
    assert_equal 'dev', C.token_from_cookies('gatehouse_session=dev', C.cookie_names(secure: false, shared: false)[:session])
    assert_nil C.token_from_cookies(nil, names)
  end

  def test_csrf_rule
    allowed = Set['https://app.example.com']
    token = 'a.b.c'
    good = { 'origin' => 'https://app.example.com', 'x-csrf-token' => C.csrf_token_for(token) }
    assert_nil C.csrf_rejection('GET', {}, token, allowed)
    assert_nil C.csrf_rejection('POST', good, token, allowed)
    assert_nil C.csrf_rejection('POST', good.merge('origin' => nil, 'referer' => 'https://app.example.com:443/page?x=1'), token, allowed)
    assert_equal 'Sec-Fetch-Site is cross-site', C.csrf_rejection('POST', good.merge('sec-fetch-site' => 'cross-site'), token, allowed)
    assert_equal 'no Origin or Referer header', C.csrf_rejection('DELETE', good.merge('origin' => nil), token, allowed)
    assert_equal 'origin https://evil.example is not in the allowed origins',
                 C.csrf_rejection('PUT', good.merge('origin' => 'https://evil.example'), token, allowed)
    assert_equal 'no x-csrf-token header', C.csrf_rejection('POST', good.merge('x-csrf-token' => nil), token, allowed)
    assert_equal 'x-csrf-token does not match the session', C.csrf_rejection('POST', good, 'another.token.x', allowed)
    # SHA-256 of "gatehouse-csrf:<token>", base64url: the value Gatehouse gives the page (computed with node:crypto).
    assert_equal 'KBSSCPFYUlc4yirqAHOalGdGE9D73QT2p8otwVoaOhE', C.csrf_token_for('x')
  end
end
