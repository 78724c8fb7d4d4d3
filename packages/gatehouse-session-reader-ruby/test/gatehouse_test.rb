# frozen_string_literal: true

require_relative 'test_helper'

# Sessions a real Gatehouse made (started by test/reader/ruby.test.ts: EdDSA, its JWKS at
# /.well-known/jwks.json), read by the gem as another service would, while Gatehouse ends them.
class GatehouseTest < Minitest::Test
  R = Gatehouse::SessionReader

  def setup
    skip 'needs a Gatehouse: run through test/reader/ruby.test.ts' unless TestEnv.gatehouse_url
    @prefix = ENV.fetch('GATEHOUSE_KEY_PREFIX')
    @reader = R::Reader.new(redis: TestEnv.redis, key_prefix: @prefix, jwks_url: "#{TestEnv.gatehouse_url}/.well-known/jwks.json")
  end

  def header_of(token)
    JSON.parse(R::Token.base64url_decode(token.split('.').first))
  end

  def test_a_live_session_then_logged_out
    user_id, token, email = GatehouseApi.new_session
    assert_equal %w[EdDSA gatehouse-session+jwt], header_of(token).values_at('alg', 'typ')
    session = @reader.read(token)
    assert session.live?, "live: #{session.inspect}"
    me = GatehouseApi.json(GatehouseApi.request('get', '/me', token: token))
    assert_equal [user_id, 'user', 3, email, nil], [session.user_id, session.role, session.layout, session.email, session.audience]
    assert_equal me['user']['id'], session.user_id if me['user']
    assert_match(/\A[A-Za-z0-9_-]{22}\z/, session.session_id)
    assert_equal 'gatehouse', session.claims['iss']
    now = TestEnv.redis_now_ms
    assert_in_delta now, session.last_seen_at, 10_000
    assert_operator session.created_at, :<=, session.last_seen_at
    assert_operator session.expires_at, :>, now
    assert_operator session.max_expires_at, :>=, session.expires_at
    assert_kind_of Integer, session.user_created_at
    refute_empty session.ip
    assert_equal [:global, 1_200_000, session.max_expires_at], [session.policy, session.idle_timeout_ms, session.ends_at]

    assert_equal '204', GatehouseApi.request('delete', '/sessions/current', token: token).code
    ended = @reader.read(token)
    assert_equal [:logged_out, nil], [ended.reason, ended.cause], 'its own logout, remembered'
  end

  # A client's policy, as ops set it (gatehouse ttl set --client writes these fields), applies to
  # sessions bound to it at once; ending the client revokes them, and both say so alike.
  def test_a_client_policy_sets_the_window_and_ending_the_client_revokes
    audience = "rb-client-#{SecureRandom.hex(4)}"
    _, email = GatehouseApi.new_session.values_at(0, 2)
    login = GatehouseApi.request('post', '/sessions', body: { email: email, password: GatehouseApi::PASSWORD }, headers: { 'JWT-Aud' => audience })
    assert_equal '201', login.code, login.body
    token = GatehouseApi.json(login)['token']
    config = "#{@prefix}config"
    begin
      TestEnv.redis.hset(config, "client_ttl_seconds:#{audience}", '7200', "client_max_age_seconds:#{audience}", '86400')
      session = @reader.read(token, audience: audience)
      assert session.live?, "live: #{session.inspect}"
      assert_equal [:client, 7_200_000, audience], [session.policy, session.idle_timeout_ms, session.audience]
      assert_equal session.created_at + 86_400_000, session.ends_at, "the client's maximum age comes before the token's exp"

      TestEnv.redis.hset(config, "client_ended_before:#{audience}", (TestEnv.redis_now_ms + 1).to_s)
      ended = @reader.read(token, audience: audience)
      assert_equal %i[revoked client_ended], [ended.reason, ended.cause]
      # Gatehouse reads policies twice a second: its answer says the same within a second.
      body = nil
      20.times do
        body = GatehouseApi.json(GatehouseApi.request('get', '/me', token: token, headers: { 'JWT-Aud' => audience }))
        break if body['cause']

        sleep 0.1
      end
      assert_equal %w[session_expired revoked client_ended], body.values_at('error', 'reason', 'cause')
    ensure
      TestEnv.redis.hdel(config, "client_ttl_seconds:#{audience}", "client_max_age_seconds:#{audience}", "client_ended_before:#{audience}")
    end
  end

  def test_a_ttl_ops_shorten_refuses_an_idle_session_at_once
    _, token, = GatehouseApi.new_session
    sleep 2.3
    assert @reader.read(token).live?, 'idle 2.3 s of the default 1200 s'
    admin = GatehouseApi.login(ENV.fetch('GATEHOUSE_ADMIN_EMAIL'))
    begin
      put = GatehouseApi.request('put', '/admin/settings/session-ttl', token: admin, body: { ttl_seconds: 2 })
      assert_equal '200', put.code, put.body
      # No cache between ops and the reader: the very next read applies the new TTL.
      assert_equal :idle, @reader.read(token).reason
      assert_equal 'session_expired', GatehouseApi.json(GatehouseApi.request('get', '/me', token: token))['error']
    ensure
      # A fresh admin session: the one above may be idle by now under a 2 s TTL.
      restored = GatehouseApi.request('delete', '/admin/settings/session-ttl', token: GatehouseApi.login(ENV.fetch('GATEHOUSE_ADMIN_EMAIL')))
      assert_equal '200', restored.code, restored.body
    end
    _, fresh, = GatehouseApi.new_session
    assert @reader.read(fresh).live?
  end

  def test_a_revoke_all_ends_the_other_sessions
    user_id, kept, email = GatehouseApi.new_session
    other = GatehouseApi.login(email)
    other_jti = JSON.parse(R::Token.base64url_decode(other.split('.')[1]))['jti']
    other_key = "#{@prefix}sess:{#{user_id}}:#{other_jti}"
    assert @reader.read(other).live?
    copy = TestEnv.redis.dump(other_key)
    pttl = TestEnv.redis.pttl(other_key)

    revoked = GatehouseApi.request('delete', '/sessions', token: kept)
    assert_equal '200', revoked.code, revoked.body
    assert_equal 1, GatehouseApi.json(revoked)['revoked']
    assert @reader.read(kept).live?, 'the current session is kept'
    # Its hash gone, the revoke-all's record says why: the user ended it from another session.
    ended = @reader.read(other)
    assert_equal %i[revoked signed_out_elsewhere], [ended.reason, ended.cause]
    refute_nil TestEnv.redis.get("#{@prefix}user:{#{user_id}}:cutoff")
    # The hash as a replica, or a sweep not yet done, may still hold it: the cutoff alone ends it.
    TestEnv.redis.restore(other_key, pttl, copy, replace: true)
    ended = @reader.read(other)
    assert_equal %i[revoked signed_out_elsewhere], [ended.reason, ended.cause]

    everywhere = GatehouseApi.request('delete', '/sessions?all=true', token: kept)
    assert_equal '200', everywhere.code, everywhere.body
    refute @reader.read(kept).live?
  end

  def test_a_layout_this_reader_does_not_know_is_no_decision
    user_id, token, = GatehouseApi.new_session
    jti = JSON.parse(R::Token.base64url_decode(token.split('.')[1]))['jti']
    TestEnv.redis.hset("#{@prefix}sess:{#{user_id}}:#{jti}", 'v', '4')
    assert_equal :unknown_version, @reader.read(token).reason
  end
end
