# frozen_string_literal: true

require_relative 'test_helper'

# contract/fixtures/reading-cases.json: every reader of Gatehouse sessions decides each case alike.
# Each case is loaded under a prefix of its own, as the fixture's comment says, and read at once.
class ReadingCasesTest < Minitest::Test
  FILE = JSON.parse(File.read(TestEnv::CASES_FILE))
  SETTINGS = FILE['settings']
  CASES = FILE['cases']
  PLACEHOLDER = /\$\{now(_us)?([+-]\d+)?\}/.freeze

  def self.resolve(value, now_ms)
    value.gsub(PLACEHOLDER) { ((Regexp.last_match(1) ? now_ms * 1000 : now_ms) + Regexp.last_match(2).to_i).to_s }
  end

  def self.load(prefix, kase)
    redis = TestEnv.redis
    now = TestEnv.redis_now_ms
    if kase['session']
      key = "#{prefix}sess:{#{kase['user_id']}}:#{kase['jti']}"
      redis.mapped_hmset(key, kase['session'].transform_values { |value| resolve(value, now) })
      redis.pexpire(key, kase['session_ttl_ms']) unless kase['session_ttl_ms'].nil?
    end
    redis.set("#{prefix}user:{#{kase['user_id']}}:cutoff", resolve(kase['cutoff'], now)) unless kase['cutoff'].nil?
    redis.mapped_hmset("#{prefix}user:{#{kase['user_id']}}:revoked", kase['revocation'].transform_values { |value| resolve(value, now) }) unless kase['revocation'].nil?
    redis.set("#{prefix}ended:{#{kase['user_id']}}:#{kase['jti']}", kase['ended']) unless kase['ended'].nil?
    redis.mapped_hmset("#{prefix}config", kase['config'].transform_values { |value| resolve(value, now) }) unless kase['config'].nil?
  end

  def self.reader(prefix, kase, keys)
    secrets = kase['shared_secrets'] ? [SETTINGS['JWT_SECRET'], *SETTINGS['JWT_PREVIOUS_SECRETS'].split(',')] : nil
    Gatehouse::SessionReader::Reader.new(
      redis: TestEnv.redis, key_prefix: prefix, issuer: SETTINGS['JWT_ISSUER'], accept_untyped: SETTINGS['JWT_ACCEPT_UNTYPED'],
      default_ttl_seconds: SETTINGS['SESSION_TTL_SECONDS'], max_age_seconds: SETTINGS['SESSION_MAX_AGE_SECONDS'],
      unsafe_shared_secrets: secrets, **keys
    )
  end

  # live, a reason, or "revoked (cause)".
  def self.decision(result)
    return 'live' if result.live?

    result.cause ? "#{result.reason} (#{result.cause})" : result.reason.to_s
  end

  def self.expected(kase)
    kase['expect_cause'] ? "#{kase['expect']} (#{kase['expect_cause']})" : kase['expect']
  end

  # The deployment's public key as a PEM, for the public_keys: option (its kid is computed).
  PUBLIC_PEM = OpenSSL::PKey.read(SETTINGS['JWT_PRIVATE_KEY']).public_to_pem

  CASES.each_with_index do |kase, i|
    slug = kase['name'].downcase.gsub(/[^a-z0-9]+/, '_')[0, 60]
    define_method(format('test_case_%02d_%s', i, slug)) do
      prefix = "#{TestEnv::PREFIX}case#{i}:"
      self.class.load(prefix, kase)
      from_jwks = self.class.reader(prefix, kase, jwks: SETTINGS['JWT_JWKS']).read(kase['token'], audience: kase['audience'])
      from_pem = self.class.reader(prefix, kase, public_keys: [PUBLIC_PEM]).read(kase['token'], audience: kase['audience'])
      assert_equal self.class.expected(kase), self.class.decision(from_jwks), "#{kase['name']} (jwks:)"
      assert_equal self.class.expected(kase), self.class.decision(from_pem), "#{kase['name']} (public_keys:)"
    end
  end

  def test_the_file_has_both_kinds_of_case
    assert_equal 115, CASES.length
    assert_operator CASES.count { |kase| kase['expect'] == 'live' }, :>=, 5
    assert_operator CASES.count { |kase| kase['expect'] != 'live' }, :>=, 20
  end

  def test_a_live_case_reads_every_field
    i = CASES.index { |kase| kase['name'] == 'a live session' }
    kase = CASES[i]
    prefix = "#{TestEnv::PREFIX}fields:"
    self.class.load(prefix, kase)
    now = TestEnv.redis_now_ms
    session = self.class.reader(prefix, kase, jwks: SETTINGS['JWT_JWKS']).read(kase['token'])
    assert session.live?
    assert_equal [kase['user_id'], kase['jti'], 'user', 3, 'ios', 'Gatehouse/1.0', '127.0.0.1', 'ada@example.com', nil],
                 [session.user_id, session.session_id, session.role, session.layout, session.client, session.user_agent, session.ip,
                  session.email, session.audience]
    assert_in_delta now - 60_000, session.created_at, 2000
    assert_in_delta now - 1000, session.last_seen_at, 2000
    assert_in_delta now + 86_400_000, session.max_expires_at, 2000
    assert_in_delta now - 120_000, session.user_created_at, 2000
    # The sooner of the key's TTL and last_seen_at + the TTL in force (1200 s), under the global policy.
    assert_in_delta now - 1000 + 1_200_000, session.expires_at, 2000
    assert_equal [:global, 1_200_000, session.max_expires_at], [session.policy, session.idle_timeout_ms, session.ends_at]
    assert_equal 'gatehouse', session.claims['iss']
  end
end
