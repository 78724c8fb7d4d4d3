# frozen_string_literal: true

require_relative 'test_helper'

# jwks_url: fetched over real HTTP from a little JWKS server, cached for its max-age, refetched for
# an unknown kid at most once per interval, bounded in time and size; failures are Unavailable.
class JwksTest < Minitest::Test
  R = Gatehouse::SessionReader
  KEY = OpenSSL::PKey.generate_key('ED25519')
  NEXT_KEY = OpenSSL::PKey.generate_key('ED25519')

  # What the JWKS server answers, changeable by a test; it counts the requests.
  class Jwks
    attr_accessor :status, :body, :headers, :delay
    attr_reader :requests

    def initialize
      reset
    end

    def reset
      @body = JSON.generate('keys' => [Mint.ed25519_jwk(KEY)])
      @status = 200
      @headers = { 'content-type' => 'application/json', 'cache-control' => 'public, max-age=60' }
      @delay = 0
      @requests = 0
    end

    def call(_env)
      @requests += 1
      sleep(@delay) if @delay.positive?
      [@status, @headers.dup, [@body]]
    end
  end

  def setup
    @jwks = Jwks.new
    @server = RackServer.new(@jwks)
  end

  def teardown
    @server.stop
  end

  def reader(**options)
    R::Reader.new(redis: TestEnv.redis, key_prefix: TestEnv::PREFIX, jwks_url: @server.url('/.well-known/jwks.json'), **options)
  end

  def token(key = KEY, kid = Mint.ed25519_jwk(key)['kid'])
    Mint.token(Mint.header(kid, 'EdDSA'), Mint.claims(Mint.user_id, Mint.jti), key: key)
  end

  def verified?(result)
    result.is_a?(Hash)
  end

  def test_fetched_once_and_kept_for_its_max_age
    r = reader
    5.times { assert verified?(r.verify(token)) }
    assert_equal 1, @jwks.requests
    assert_equal 3600, r.instance_variable_get(:@remote).send(:cache_seconds, 'max-age=86400')
    assert_equal 300, r.instance_variable_get(:@remote).send(:cache_seconds, nil)
    assert_equal 0, r.instance_variable_get(:@remote).send(:cache_seconds, 'no-cache, max-age=0')
  end

  def test_an_unknown_kid_refetches_at_most_once_per_interval_and_finds_a_rotated_key
    r = reader(jwks_min_refetch_interval: 0.4)
    assert verified?(r.verify(token))
    assert_equal 1, @jwks.requests
    # Forged kids, many: no request reaches the JWKS within the interval.
    10.times { assert_equal :invalid_token, r.verify(token(KEY, "forged-#{SecureRandom.hex(4)}")).reason }
    assert_equal 1, @jwks.requests
    # A rotation: Gatehouse publishes the next key; once the interval is over, its kid is looked for.
    @jwks.body = JSON.generate('keys' => [Mint.ed25519_jwk(NEXT_KEY), Mint.ed25519_jwk(KEY)])
    sleep 0.45
    assert verified?(r.verify(token(NEXT_KEY)))
    assert_equal 2, @jwks.requests
    10.times { r.verify(token(KEY, 'forged')) }
    assert_equal 2, @jwks.requests
  end

  def test_keys_at_hand_serve_while_gatehouse_is_unreachable_for_a_while
    @jwks.headers['cache-control'] = 'max-age=1'
    r = reader(jwks_min_refetch_interval: 0.1, jwks_max_stale: 1.5)
    assert verified?(r.verify(token))
    @jwks.status = 503
    sleep 1.1
    assert verified?(r.verify(token)), 'stale keys still verify'
    assert_equal 2, @jwks.requests
    sleep 1.6
    error = assert_raises(R::Unavailable) { r.verify(token) }
    assert_equal :jwks, error.dependency
    @jwks.status = 200
    sleep 0.15
    assert verified?(r.verify(token)), 'back once the JWKS answers'
  end

  def test_failures_are_unavailable
    cases = {
      'a 404' => -> { @jwks.status = 404 },
      'a redirect (not followed)' => -> { @jwks.status = 302; @jwks.headers['location'] = 'https://example.com/' },
      'more than 64 KiB' => -> { @jwks.body = JSON.generate('keys' => [Mint.ed25519_jwk(KEY)], 'pad' => 'x' * 70_000) },
      'no keys array' => -> { @jwks.body = '{"keys": {}}' },
      'not JSON' => -> { @jwks.body = '<html>' }
    }
    cases.each do |what, setup|
      @jwks.reset
      setup.call
      error = assert_raises(R::Unavailable, what) { reader.verify(token) }
      assert_equal :jwks, error.dependency, what
    end
  end

  def test_a_slow_or_absent_jwks_is_unavailable_within_the_timeout
    @jwks.delay = 1.5
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(R::Unavailable) { reader(jwks_fetch_timeout: 0.3).verify(token) }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 1.2
    closed = R::Reader.new(redis: TestEnv.redis, unsafe_shared_secrets: nil, jwks_url: "http://127.0.0.1:#{TestEnv.closed_port}/jwks")
    assert_raises(R::Unavailable) { closed.verify(token) }
    # A token no JWKS key could verify is still refused without asking: it has no kid.
    assert_equal :invalid_token, closed.verify(Mint.token({ alg: 'EdDSA', typ: 'gatehouse-session+jwt' }, Mint.claims(Mint.user_id, Mint.jti), key: KEY)).reason
  end
end
