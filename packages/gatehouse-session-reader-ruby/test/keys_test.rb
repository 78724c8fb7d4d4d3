# frozen_string_literal: true

require_relative 'test_helper'

# Keys: chosen by kid, each verifying with its own algorithm only; what is refused at construction.
class KeysTest < Minitest::Test
  R = Gatehouse::SessionReader
  SECRET = 'keys-test-shared-secret-0123456789abcdef'
  ED = OpenSSL::PKey.generate_key('ED25519')
  RSA = OpenSSL::PKey::RSA.new(2048)

  def setup
    @prefix = "#{TestEnv::PREFIX}keys-#{SecureRandom.hex(4)}:"
    @user = Mint.user_id
    @jti = Mint.jti
    Mint.session(@prefix, @user, @jti)
  end

  def reader(**keys)
    R::Reader.new(redis: TestEnv.redis, key_prefix: @prefix, **keys)
  end

  def decision(result)
    result.live? ? 'live' : result.reason.to_s
  end

  def test_rs256_from_a_jwks_and_algorithm_pinning
    jwk = Mint.rsa_jwk(RSA)
    r = reader(jwks: { 'keys' => [jwk] })
    claims = Mint.claims(@user, @jti)
    assert_equal 'live', decision(r.read(Mint.token(Mint.header(jwk['kid'], 'RS256'), claims, key: RSA)))
    # The public key's PEM used as an HMAC secret under the RSA kid (algorithm confusion).
    forged = Mint.token(Mint.header(jwk['kid'], 'HS256'), claims, secret: RSA.public_to_pem)
    assert_equal 'invalid_token', decision(r.read(forged))
    # RS512, PS256 or none under the same kid: only RS256.
    %w[RS512 PS256 none].each do |alg|
      assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header(jwk['kid'], alg), claims, key: RSA))), alg
    end
    # public_keys: the PEM, its kid computed as the JWKS' (RFC 7638).
    assert_equal 'live', decision(reader(public_keys: [RSA.public_to_pem]).read(Mint.token(Mint.header(jwk['kid'], 'RS256'), claims, key: RSA)))
  end

  def test_a_short_rsa_key_or_a_private_jwk_is_skipped
    small = OpenSSL::PKey::RSA.new(1024)
    jwk = Mint.rsa_jwk(small)
    assert_raises(ArgumentError) { reader(jwks: { 'keys' => [jwk] }) } # no usable key at all
    ed_jwk = Mint.ed25519_jwk(ED)
    r = reader(jwks: { 'keys' => [jwk, ed_jwk.merge('kid' => 'private', 'd' => 'AAAA'), ed_jwk] })
    claims = Mint.claims(@user, @jti)
    assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header(jwk['kid'], 'RS256'), claims, key: small)))
    assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header('private', 'EdDSA'), claims, key: ED)))
    assert_equal 'live', decision(r.read(Mint.token(Mint.header(ed_jwk['kid'], 'EdDSA'), claims, key: ED)))
    assert_raises(ArgumentError) { reader(public_keys: [small.public_to_pem]) }
    assert_raises(ArgumentError) { reader(public_keys: [ED.private_to_pem]) }
    assert_raises(ArgumentError) { reader(public_keys: ['not a pem']) }
  end

  def test_shared_secrets_only_through_the_unsafe_option
    claims = Mint.claims(@user, @jti)
    kid = R::Keys.secret_kid(SECRET)
    token = Mint.token(Mint.header(kid, 'HS256'), claims, secret: SECRET)
    ed_only = reader(public_keys: [ED.public_to_pem])
    assert_equal 'invalid_token', decision(ed_only.read(token))
    both = reader(public_keys: [ED.public_to_pem], unsafe_shared_secrets: [SECRET])
    assert_equal 'live', decision(both.read(token))
    # The secret's kid with another algorithm, or no kid and no secrets configured.
    assert_equal 'invalid_token', decision(both.read(Mint.token(Mint.header(kid, 'EdDSA'), claims, key: ED)))
    no_kid = Mint.token({ alg: 'HS256', typ: 'gatehouse-session+jwt' }, claims, secret: SECRET)
    assert_equal 'live', decision(both.read(no_kid))
    assert_equal 'invalid_token', decision(ed_only.read(no_kid))
    assert_raises(ArgumentError) { reader(unsafe_shared_secrets: ['too short']) }
    assert_raises(ArgumentError) { reader }
    assert_raises(ArgumentError) { R::Reader.new(key_prefix: @prefix, unsafe_shared_secrets: [SECRET]) }
  end

  def test_the_token_shape
    r = reader(unsafe_shared_secrets: [SECRET])
    kid = R::Keys.secret_kid(SECRET)
    claims = Mint.claims(@user, @jti)
    good = Mint.token(Mint.header(kid, 'HS256'), claims, secret: SECRET)
    assert_equal 'live', decision(r.read(good))
    ['', 'a.b', "#{good}.x", good.sub('.', '..'), "#{good}=", good.tr('-_', '+/') + 'A', nil, 42, 'x' * 5000].each do |token|
      assert_equal 'invalid_token', decision(r.read(token)), token.inspect[0, 40]
    end
    long = Mint.token(Mint.header(kid, 'HS256'), claims.merge(pad: 'x' * 4000), secret: SECRET)
    assert_operator long.length, :>, 4096
    assert_equal 'invalid_token', decision(r.read(long))
    assert_equal 'max_age', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(exp: Time.now.to_i - 5), secret: SECRET)))
    assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(exp: '9999999999'), secret: SECRET)))
    assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(nbf: Time.now.to_i + 60), secret: SECRET)))
    assert_equal 'live', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(nbf: Time.now.to_i - 60), secret: SECRET)))
    assert_equal 'invalid_token', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(aud: 'bad aud'), secret: SECRET), audience: 'bad aud'))
    assert_equal 'wrong_audience', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(aud: 'ios'), secret: SECRET), audience: 'web'))
    assert_equal 'live', decision(r.read(Mint.token(Mint.header(kid, 'HS256'), claims.merge(aud: 'ios'), secret: SECRET), audience: 'ios'))
  end

  def test_jwks_url_is_refused_at_construction_unless_https_or_loopback_http
    ok = %w[https://auth.example.com/.well-known/jwks.json http://127.0.0.1:3000/jwks http://127.9.9.9/jwks http://localhost/jwks http://[::1]:8080/jwks]
    ok.each { |url| assert reader(jwks_url: url), url }
    refused = %w[http://auth.example.com/jwks http://10.0.0.1/jwks http://[::2]/jwks data:application/json,{} file:///etc/jwks.json ftp://127.0.0.1/jwks
                 https:///nohost not\ a\ url]
    refused.each { |url| assert_raises(ArgumentError, url) { reader(jwks_url: url) } }
    %w[RACK_ENV RAILS_ENV].each do |name|
      saved = ENV[name]
      ENV[name] = 'production'
      begin
        assert_raises(ArgumentError, name) { reader(jwks_url: 'http://127.0.0.1:3000/jwks') }
        assert reader(jwks_url: 'https://auth.example.com/.well-known/jwks.json')
      ensure
        ENV[name] = saved
      end
    end
  end

  def test_redis_unreachable_is_unavailable_never_a_decision
    r = R::Reader.new(redis_url: "redis://127.0.0.1:#{TestEnv.closed_port}", key_prefix: @prefix, unsafe_shared_secrets: [SECRET], timeout: 0.5)
    token = Mint.token(Mint.header(R::Keys.secret_kid(SECRET), 'HS256'), Mint.claims(@user, @jti), secret: SECRET)
    error = assert_raises(R::Unavailable) { r.read(token) }
    assert_equal :redis, error.dependency
    # The token step alone needs no Redis: a bad token is still invalid.
    assert_equal 'invalid_token', decision(r.read('x.y.z'))
  end

  def test_the_ttl_is_read_fresh_on_every_read
    r = reader(public_keys: [ED.public_to_pem])
    token = Mint.token(Mint.header(Mint.ed25519_jwk(ED)['kid'], 'EdDSA'), Mint.claims(@user, @jti), key: ED)
    key = "#{@prefix}sess:{#{@user}}:#{@jti}"
    TestEnv.redis.hset(key, 'last_seen_at', (TestEnv.redis_now_ms - 5000).to_s)
    assert_equal 'live', decision(r.read(token))
    TestEnv.redis.hset("#{@prefix}config", 'session_ttl_seconds', '4')
    assert_equal 'idle', decision(r.read(token))
    TestEnv.redis.hset("#{@prefix}config", 'session_ttl_seconds', '6')
    assert_equal 'live', decision(r.read(token))
  end
end
