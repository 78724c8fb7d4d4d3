# frozen_string_literal: true

require 'digest'
require 'openssl'
require 'redis'

module Gatehouse
  module SessionReader
    # A live session: what Gatehouse knows of the caller. Times are Unix ms (Redis' clock).
    # client, user_agent and ip are untrusted text: escape them before display.
    LiveSession = Struct.new(:user_id, :session_id, :role, :layout, :created_at, :last_seen_at, :expires_at,
                             :max_expires_at, :client, :user_agent, :ip, :email, :user_created_at, :audience, :claims,
                             keyword_init: true) do
      def live?
        true
      end

      def reason
        nil
      end
    end

    # Why a token does not stand for a live session: :invalid_token, :wrong_audience, :no_session,
    # :revoked, :idle, :max_age or :unknown_version.
    NotLive = Struct.new(:reason) do
      def live?
        false
      end
    end

    # Reads Gatehouse sessions by the contract (docs/session-contract.md), read-only.
    class Reader
      LAYOUT_VERSIONS = %w[1 3].freeze
      INTEGER = /\A[0-9]{1,16}\z/.freeze
      TTL_SECONDS = /\A[0-9]{1,9}\z/.freeze

      # One read-only round trip (EVALSHA_RO/EVAL_RO: Redis itself refuses the script any write):
      # the hash, its PTTL, the user's cutoff, Redis' clock and, when KEYS[3] is given, the config
      # fields, read fresh every time.
      READ_SCRIPT = <<~LUA
        local t = redis.call('TIME')
        local config = {false, false}
        if #KEYS > 2 then config = redis.call('HMGET', KEYS[3], 'session_ttl_seconds', 'untyped_tokens_until') end
        return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) or '', t[1], t[2], redis.call('PTTL', KEYS[1]), config[1] or '', config[2] or ''}
      LUA
      READ_SCRIPT_SHA = Digest::SHA1.hexdigest(READ_SCRIPT)

      attr_reader :key_prefix

      # redis: a Redis client (redis-rb), or redis_url: to build one with `timeout`.
      # Keys: jwks_url: (fetched), jwks: (a JWK Set in hand), public_keys: (PEMs, or {kid => PEM}),
      # and, only if you accept the risk, unsafe_shared_secrets: [JWT_SECRET, *JWT_PREVIOUS_SECRETS].
      def initialize(redis: nil, redis_url: nil, key_prefix: 'gatehouse:', issuer: Token::DEFAULT_ISSUER,
                     accept_untyped: true, jwks_url: nil, jwks: nil, public_keys: nil, unsafe_shared_secrets: nil,
                     default_ttl_seconds: 1200, max_age_seconds: 30 * 24 * 3600, timeout: 1.0,
                     jwks_fetch_timeout: 5.0, jwks_min_refetch_interval: 5.0, jwks_max_stale: 3600.0)
        raise ArgumentError, 'give redis: (a Redis client) or redis_url:, not both' if redis && redis_url
        raise ArgumentError, 'redis: or redis_url: is required' unless redis || redis_url

        @redis = redis || Redis.new(url: redis_url, connect_timeout: timeout, read_timeout: timeout,
                                    write_timeout: timeout, reconnect_attempts: 1)
        @key_prefix = key_prefix.to_s
        @issuer = issuer
        @accept_untyped = accept_untyped
        @default_ttl_seconds = Integer(default_ttl_seconds)
        @max_age_seconds = Integer(max_age_seconds)
        # redis-rb 5 (redis-clustering): the client is a Redis::Cluster; redis-rb 4: its _client is.
        # Any other client on a Cluster (a wrapper, a proxy) is found out by its first CROSSSLOT.
        @cluster = defined?(::Redis::Cluster) &&
                   (@redis.is_a?(::Redis::Cluster) || (@redis.respond_to?(:_client) && @redis._client.is_a?(::Redis::Cluster)))

        @secrets = Array(unsafe_shared_secrets).each_with_object({}) do |secret, by_kid|
          unless secret.is_a?(String) && secret.bytesize >= Keys::MIN_SECRET_BYTES
            raise ArgumentError, "unsafe_shared_secrets: JWT_SECRET and JWT_PREVIOUS_SECRETS are each at least #{Keys::MIN_SECRET_BYTES} bytes"
          end

          by_kid[Keys.secret_kid(secret)] = secret.b
        end.freeze
        @static_keys = {}
        @static_keys.merge!(Keys.from_jwks(jwks)) unless jwks.nil?
        case public_keys
        when nil then nil
        when Hash then public_keys.each { |kid, pem| key = Keys.from_pem(pem, kid.to_s); @static_keys[key.kid] = key }
        else Array(public_keys).each { |pem| key = Keys.from_pem(pem); @static_keys[key.kid] = key }
        end
        @static_keys.freeze
        @remote = jwks_url && RemoteJwks.new(jwks_url, fetch_timeout: jwks_fetch_timeout,
                                                       min_refetch_interval: jwks_min_refetch_interval, max_stale: jwks_max_stale)
        return unless @secrets.empty? && @static_keys.empty? && @remote.nil?

        raise ArgumentError, 'keys: give jwks_url:, jwks: or public_keys: (EdDSA/RS256)' \
                             "#{jwks.nil? && public_keys.nil? ? '' : ' with at least one usable key'}"
      end

      # Whether the token stands for a live session: a LiveSession, or a NotLive with its reason.
      # Raises Unavailable when Redis (or the JWKS) does not answer.
      def read(token, audience: nil)
        verified = verify(token, audience: audience)
        return verified if verified.is_a?(NotLive)

        session(verified)
      end

      # The token step alone (no Redis; the JWKS perhaps): the claims Hash, or a NotLive.
      def verify(token, audience: nil)
        parts = Token.decode(token)
        return NotLive.new(:invalid_token) if parts.nil?

        header, payload, signing_input, signature = parts
        return NotLive.new(:invalid_token) if header.key?('crit')
        return NotLive.new(:invalid_token) unless signed?(header, signing_input, signature)

        failure = Token.time_claims_failure(payload, (Time.now.to_r * 1000).to_i)
        return NotLive.new(failure) if failure

        claims = Token.session_claims(header, payload, issuer: @issuer, accept_untyped: @accept_untyped)
        return NotLive.new(:invalid_token) if claims.nil?
        return NotLive.new(:wrong_audience) if !claims[:aud].nil? && claims[:aud] != audience

        claims
      end

      # The Redis step, for claims `verify` accepted.
      def session(claims)
        state = read_state(claims[:user_id], claims[:jti])
        now = state[:now]
        # An untyped token passes only within the window Gatehouse recorded; none recorded: never.
        if claims[:untyped]
          until_ms = integer(state[:untyped_tokens_until])
          return NotLive.new(:invalid_token) if until_ms.nil? || now >= until_ms
        end
        ttl_ms = ttl_in_force_ms(state[:session_ttl_seconds])
        hash = state[:hash]
        reason = self.class.session_state(hash, claims[:user_id], cutoff_of(state[:cutoff]), now, state[:pttl], ttl_ms)
        return NotLive.new(reason) if reason

        last_seen_at = integer(hash['last_seen_at'])
        LiveSession.new(
          user_id: claims[:user_id], session_id: claims[:jti],
          role: hash['v'] == '1' ? nil : hash['role'], layout: hash['v'].to_i,
          created_at: integer(hash['created_at']) || claims[:created_at],
          last_seen_at: last_seen_at,
          expires_at: [now + state[:pttl], last_seen_at + ttl_ms].min,
          max_expires_at: integer(hash['max_expires_at']),
          client: hash['client'] || '', user_agent: hash['user_agent'] || '', ip: hash['ip'] || '',
          email: hash['email'].nil? || hash['email'].empty? ? nil : hash['email'],
          user_created_at: integer(hash['user_created_at']),
          audience: claims[:aud], claims: claims[:payload]
        )
      end

      # The contract's rule, in Gatehouse's order: nil when live, else why not.
      def self.session_state(hash, user_id, cutoff, now, pttl, ttl_ms)
        return :no_session if hash.empty?
        return :unknown_version unless LAYOUT_VERSIONS.include?(hash['v'])

        max_expires_at = integer(hash['max_expires_at'])
        # A key without a TTL was recreated by a stray write after it ended: not a session.
        return :no_session if hash['user_id'] != user_id || max_expires_at.nil? || pttl <= 0

        # A hash from before the field existed belongs to the generation of its creation (ms -> µs).
        generation = integer(hash['generation']) || ((integer(hash['created_at']) || 0) * 1000)
        return :revoked if cutoff.positive? && generation < cutoff
        return :max_age if max_expires_at <= now

        last_seen_at = integer(hash['last_seen_at'])
        return :idle if last_seen_at.nil? || now - last_seen_at > ttl_ms

        nil
      end

      def self.integer(value)
        value.is_a?(String) && INTEGER.match?(value) ? value.to_i : nil
      end

      private

      def integer(value)
        self.class.integer(value)
      end

      def signed?(header, signing_input, signature)
        alg = header['alg']
        unless header.key?('kid')
          # Tokens from before tokens carried a kid (layout 1): HS256, tried against each secret.
          return alg == 'HS256' && @secrets.each_value.any? { |secret| hmac_ok?(secret, signing_input, signature) }
        end

        kid = header['kid']
        return false unless kid.is_a?(String)

        if (secret = @secrets[kid])
          alg == 'HS256' && hmac_ok?(secret, signing_input, signature)
        elsif (key = @static_keys[kid] || @remote&.find(kid))
          alg == key.algorithm && key.verify(signing_input, signature)
        else
          false
        end
      end

      def hmac_ok?(secret, signing_input, signature)
        expected = OpenSSL::HMAC.digest('SHA256', secret, signing_input)
        signature.bytesize == expected.bytesize && OpenSSL.fixed_length_secure_compare(signature, expected)
      end

      # The TTL in force, ms: <prefix>config's session_ttl_seconds when it is a valid TTL, else the default.
      def ttl_in_force_ms(text)
        seconds = text.is_a?(String) && TTL_SECONDS.match?(text) ? text.to_i : nil
        seconds = @default_ttl_seconds unless seconds && seconds >= 1 && seconds <= @max_age_seconds
        seconds * 1000
      end

      # The user's cutoff: 0 when there is none; one that is not an integer ends every session.
      def cutoff_of(text)
        return 0 if text == ''

        integer(text) || Float::INFINITY
      end

      def read_state(user_id, jti)
        session_keys = ["#{@key_prefix}sess:{#{user_id}}:#{jti}", "#{@key_prefix}user:{#{user_id}}:cutoff"]
        reply, config = script_and_config(session_keys, "#{@key_prefix}config")
        flat, cutoff, seconds, micros, pttl = reply
        raise Unavailable.new(:redis, 'an unexpected reply to the read script') unless flat.is_a?(Array) && pttl.is_a?(Integer) && config.is_a?(Array)

        { hash: flat.each_slice(2).to_h, cutoff: cutoff.to_s, pttl: pttl,
          now: (seconds.to_i * 1000) + (micros.to_i / 1000),
          session_ttl_seconds: config[0] || '', untyped_tokens_until: config[1] || '' }
      rescue ::Redis::BaseError, SystemCallError, IOError, SocketError => e
        raise Unavailable.new(:redis, e.message)
      end

      # The script's reply and the config fields: one script on a single Redis or Sentinel; on a
      # Cluster <prefix>config lives in another slot than the user's keys, so an HMGET beside it.
      def script_and_config(session_keys, config_key)
        unless @cluster
          begin
            reply = run_script(session_keys + [config_key])
            return [reply, reply.is_a?(Array) ? reply[5, 2] : nil]
          rescue ::Redis::BaseError => e
            raise unless e.message.include?('CROSSSLOT')

            @cluster = true # a Cluster client that does not say so: read config beside the script from now on
          end
        end
        [run_script(session_keys), @redis.call('HMGET', config_key, 'session_ttl_seconds', 'untyped_tokens_until')]
      end

      def run_script(keys)
        @redis.call('EVALSHA_RO', READ_SCRIPT_SHA, keys.length, *keys)
      rescue ::Redis::CommandError => e
        raise unless e.message.start_with?('NOSCRIPT')

        @redis.call('EVAL_RO', READ_SCRIPT, keys.length, *keys)
      end
    end
  end
end
