# frozen_string_literal: true

require_relative 'test_helper'

# The Rack middleware behind a real WEBrick server, with sessions from a real Gatehouse: the
# session in env, and the answers Gatehouse gives, compared with Gatehouse's own.
class MiddlewareTest < Minitest::Test
  R = Gatehouse::SessionReader
  ORIGIN = 'https://app.example.com'

  APP = lambda do |env|
    session = env['gatehouse.session']
    [200, { 'content-type' => 'application/json' }, [JSON.generate('user' => session.user_id, 'role' => session.role, 'aud' => session.audience)]]
  end

  def setup
    skip 'needs a Gatehouse: run through test/reader/ruby.test.ts' unless TestEnv.gatehouse_url
    @prefix = ENV.fetch('GATEHOUSE_KEY_PREFIX')
    @servers = []
  end

  def teardown
    @servers&.each(&:stop)
  end

  def reader(**options)
    R::Reader.new(redis: TestEnv.redis, key_prefix: @prefix, jwks_url: "#{TestEnv.gatehouse_url}/.well-known/jwks.json", **options)
  end

  def service(reader = self.reader, **options)
    faults = @faults = []
    app = Rack::Builder.new do
      use R::Middleware, reader: reader, on_fault: ->(error) { faults << error }, **options
      run APP
    end
    RackServer.new(app.to_app).tap { |server| @servers << server }
  end

  def json(response)
    JSON.parse(response.body)
  end

  # The service's answer and Gatehouse's (GET /me) to the same headers: status, body, challenge.
  def assert_same_as_gatehouse(server, headers, error)
    mine = server.request('get', '/chat', headers)
    theirs = GatehouseApi.request('get', '/me', headers: headers)
    assert_equal ['401', error], [mine.code, json(mine)['error']], headers.inspect
    assert_equal json(theirs), json(mine), "the body Gatehouse gives: #{headers.inspect}"
    assert_equal theirs['www-authenticate'], mine['www-authenticate']
    bearer = headers['authorization'].to_s.match?(/\Abearer(\s|\z)/i)
    expected = if !bearer then 'Token realm="Application"'
               elsif error == 'missing_token' then 'Bearer realm="Application"'
               else 'Bearer realm="Application", error="invalid_token"'
               end
    assert_equal expected, mine['www-authenticate']
    assert_equal 'no-store', mine['cache-control']
    assert_match %r{\Aapplication/json}, mine['content-type']
  end

  def test_the_session_in_env_and_gatehouses_401s
    server = service
    user_id, token, = GatehouseApi.new_session
    ["Token token=#{token}", %(Token token="#{token}", device="ios"), "Bearer #{token}", "bearer #{token}"].each do |authorization|
      ok = server.request('get', '/chat', 'authorization' => authorization)
      assert_equal ['200', { 'user' => user_id, 'role' => 'user', 'aud' => nil }], [ok.code, json(ok)], authorization[0, 14]
      assert_equal 'no-store', ok['cache-control']
    end
    assert_same_as_gatehouse(server, {}, 'missing_token')
    assert_same_as_gatehouse(server, { 'authorization' => 'Basic YWxhZGRpbjpvcGVuc2VzYW1l' }, 'missing_token')
    assert_same_as_gatehouse(server, { 'authorization' => 'Token token=not-a-token' }, 'invalid_token')
    assert_same_as_gatehouse(server, { 'authorization' => "Token token=#{token[0..-3]}xy" }, 'invalid_token')
    assert_same_as_gatehouse(server, { 'authorization' => "Token token=#{'a' * 4097}" }, 'invalid_token')
    assert_same_as_gatehouse(server, { 'authorization' => 'Bearer not-a-token' }, 'invalid_token')
    assert_same_as_gatehouse(server, { 'authorization' => 'Bearer' }, 'missing_token')
    GatehouseApi.request('delete', '/sessions/current', token: token)
    assert_same_as_gatehouse(server, { 'authorization' => "Token token=#{token}" }, 'session_expired')
    assert_empty @faults
  end

  def test_an_audience_bound_token_needs_the_audience_named
    server = service
    _, _, email = GatehouseApi.new_session
    login = GatehouseApi.request('post', '/sessions', body: { email: email, password: GatehouseApi::PASSWORD }, headers: { 'JWT-Aud' => 'ios-app' })
    token = GatehouseApi.json(login)['token']
    ok = server.request('get', '/chat', 'authorization' => "Bearer #{token}", 'JWT-Aud' => 'ios-app')
    assert_equal ['200', 'ios-app'], [ok.code, json(ok)['aud']]
    assert_same_as_gatehouse(server, { 'authorization' => "Bearer #{token}" }, 'invalid_token')
    assert_same_as_gatehouse(server, { 'authorization' => "Bearer #{token}", 'JWT-Aud' => 'web' }, 'invalid_token')
  end

  def test_redis_or_the_jwks_down_is_a_503_never_a_pass
    _, token, = GatehouseApi.new_session
    down = service(R::Reader.new(redis_url: "redis://127.0.0.1:#{TestEnv.closed_port}", key_prefix: @prefix, timeout: 0.5,
                                 jwks_url: "#{TestEnv.gatehouse_url}/.well-known/jwks.json"))
    answer = down.request('get', '/chat', 'authorization' => "Token token=#{token}")
    assert_equal '503', answer.code
    assert_equal({ 'error' => 'service_unavailable', 'message' => 'The service is temporarily unavailable (redis); try again shortly' }, json(answer))
    assert_equal ['5', 'no-store'], [answer['retry-after'], answer['cache-control']]
    assert_equal [:redis], @faults.map(&:dependency)
    # The token step needs no Redis: a missing or bad token is still a 401.
    assert_equal '401', down.request('get', '/chat').code
    assert_equal '401', down.request('get', '/chat', 'authorization' => 'Token token=a.b.c').code

    no_jwks = service(R::Reader.new(redis: TestEnv.redis, key_prefix: @prefix, jwks_url: "http://127.0.0.1:#{TestEnv.closed_port}/jwks"))
    answer = no_jwks.request('get', '/chat', 'authorization' => "Token token=#{token}")
    assert_equal ['503', 'The service is temporarily unavailable (jwks); try again shortly'], [answer.code, json(answer)['message']]
  end

  def test_an_unknown_layout_is_a_503_and_a_fault
    server = service
    user_id, token, = GatehouseApi.new_session
    jti = JSON.parse(R::Token.base64url_decode(token.split('.')[1]))['jti']
    TestEnv.redis.hset("#{@prefix}sess:{#{user_id}}:#{jti}", 'v', '4')
    answer = server.request('get', '/chat', 'authorization' => "Token token=#{token}")
    assert_equal ['503', 'The service is temporarily unavailable (session layout); try again shortly'], [answer.code, json(answer)['message']]
    assert_match(/layout version/, @faults.first.message)
  end

  def test_the_cookie_with_gatehouses_csrf_rule
    server = service(cookie: { allowed_origins: [ORIGIN] })
    _, _, email = GatehouseApi.new_session
    login = GatehouseApi.request('post', '/sessions', body: { email: email, password: GatehouseApi::PASSWORD, transport: 'cookie' },
                                                      headers: { 'origin' => ORIGIN })
    assert_equal '201', login.code, login.body
    token = login.get_fields('set-cookie').map { |c| c[/\A__Host-gatehouse_session=([^;]+)/, 1] }.compact.first
    refute_nil token
    # The CSRF token Gatehouse gave the page is the one this gem expects.
    assert_equal GatehouseApi.json(login)['csrf_token'], R::Credentials.csrf_token_for(token)
    cookie = { 'cookie' => "__Host-gatehouse_session=#{token}" }
    assert_equal '200', server.request('get', '/chat', cookie).code
    refused = server.request('post', '/chat', cookie)
    assert_equal ['403', 'csrf_rejected', 'Cross-site request refused: no Origin or Referer header'],
                 [refused.code, json(refused)['error'], json(refused)['message']]
    assert_equal '403', server.request('post', '/chat', cookie.merge('origin' => 'https://evil.example', 'x-csrf-token' => R::Credentials.csrf_token_for(token))).code
    assert_equal '403', server.request('post', '/chat', cookie.merge('origin' => ORIGIN, 'x-csrf-token' => 'nope')).code
    assert_equal '403', server.request('post', '/chat', cookie.merge('origin' => ORIGIN, 'sec-fetch-site' => 'cross-site',
                                                                     'x-csrf-token' => R::Credentials.csrf_token_for(token))).code
    assert_equal '200', server.request('post', '/chat', cookie.merge('origin' => ORIGIN, 'x-csrf-token' => R::Credentials.csrf_token_for(token))).code
    # Gatehouse refuses the same cookie request the same way.
    theirs = GatehouseApi.request('delete', '/sessions/current', headers: cookie)
    assert_equal ['403', 'csrf_rejected'], [theirs.code, json(theirs)['error']]
    # A second session cookie of another value (planted by a sibling subdomain): refused, not guessed.
    assert_same_as_gatehouse(server, { 'cookie' => "__Host-gatehouse_session=#{token}; __Host-gatehouse_session=x.y.z" }, 'invalid_token')
    # Without the cookie option the cookie is not a credential at all.
    assert_equal ['401', 'missing_token'], [service.request('get', '/chat', cookie).code, json(service.request('get', '/chat', cookie))['error']]
    assert_raises(ArgumentError) { R::Middleware.new(APP, reader: reader, cookie: { allowed_origins: [] }) }
  end
end
