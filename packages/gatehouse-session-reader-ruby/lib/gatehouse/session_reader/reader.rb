# frozen_string_literal: true

require 'digest'
require 'openssl'
require 'redis'

module Gatehouse
  module SessionReader
    # A live session: what Gatehouse knows of the caller. Times are Unix ms (Redis' clock).
    # client, user_agent and ip are untrusted text: escape them before display.
    # idle_timeout_ms and ends_at are the policy in force (policy :client or :global): its client's
    # idle window and maximum age, the hash's aud naming the client, or the global TTL and the
    # token's exp. max_expires_at is the hash's own field.
    LiveSession = Struct.new(:user_id, :session_id, :role, :layout, :created_at, :last_seen_at, :expires_at,
                             :max_expires_at, :ends_at, :idle_timeout_ms, :policy, :client, :user_agent, :ip, :email,
                             :user_created_at, :audience, :claims, :read_at,
                             keyword_init: true) do
      def live?
        true
      end

      def reason
        nil
      end
    end

    # Why a token does not stand for a live session: :invalid_token, :wrong_audience, :no_session,
    # :logged_out, :revoked, :idle, :max_age or :unknown_version; with :revoked, cause is what
    # revoked it when that is known (one of REVOKED_CAUSES), else nil.
    NotLive = Struct.new(:reason, :cause) do
      def live?
        false
      end
    end

    # Reads Gatehouse sessions by the contract (docs/session-contract.md), read-only.
    class Reader
      LAYOUT_VERSIONS = %w[1 3].freeze
      INTEGER = /\A[0-9]{1,16}\z/.freeze
      TTL_SECONDS = /\A[0-9]{1,9}\z/.freeze

      # One read-only round trip (EVALSHA_RO/EVAL_RO: Redis itself refuses the script any write),
      # every value fresh: Redis' clock, the hash, its PTTL, the user's cutoff and, when there is
      # one, the last revoke-all's record; when the hash is gone, how that one session ended (if
      # remembered); and when KEYS[5] is given (not a Cluster), the config fields named in ARGV.
      # KEYS: sess, cutoff, ended, revoked record, [config]. Absent values come back as nil.
      # The same script as the Node library's (packages/session-reader/src/reader.ts).
      READ_SCRIPT = <<~LUA.chomp
        local t = redis.call('TIME')
        local h = redis.call('HGETALL', KEYS[1])
        local cutoff = redis.call('GET', KEYS[2])
        local ended = false
        if #h == 0 then ended = redis.call('GET', KEYS[3]) end
        local record = {}
        if cutoff then record = redis.call('HMGET', KEYS[4], 'at', 'reason', 'kept') end
        local config = {}
        if #KEYS > 4 then config = redis.call('HMGET', KEYS[5], unpack(ARGV)) end
        return {h, cutoff, t[1], t[2], redis.call('PTTL', KEYS[1]), ended, record, config}
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
        state = read_state(claims)
        now = state[:now]
        # An untyped token passes only within the window Gatehouse recorded; none recorded: never.
        if claims[:untyped]
          until_ms = integer(state[:untyped_tokens_until])
          return NotLive.new(:invalid_token) if until_ms.nil? || now >= until_ms
        end
        input = state.merge(claims: claims, settings: settings)
        over = self.class.session_state(input)
        return over if over

        hash = state[:hash]
        policy = self.class.policy_of(input)
        last_seen_at = integer(hash['last_seen_at'])
        LiveSession.new(
          user_id: claims[:user_id], session_id: claims[:jti],
          role: hash['v'] == '1' ? nil : hash['role'], layout: hash['v'].to_i,
          created_at: integer(hash['created_at']) || claims[:created_at],
          last_seen_at: last_seen_at,
          expires_at: [now + state[:pttl], last_seen_at + policy[:ttl_ms], policy[:ends_at]].min,
          max_expires_at: integer(hash['max_expires_at']), ends_at: policy[:ends_at],
          idle_timeout_ms: policy[:ttl_ms], policy: policy[:kind], read_at: now,
          client: hash['client'] || '', user_agent: hash['user_agent'] || '', ip: hash['ip'] || '',
          email: hash['email'].nil? || hash['email'].empty? ? nil : hash['email'],
          user_created_at: integer(hash['user_created_at']),
          audience: claims[:aud], claims: claims[:payload]
        )
      end

      # The contract's rule, in Gatehouse's order: nil when live, else a NotLive. input: what one
      # read returned (hash, now, pttl, cutoff, revocation [at, reason, kept], ended, session_ttl_seconds,
      # client [ttl, max age, ended before] of the token's aud), claims and settings
      # ({ default_ttl_seconds:, max_age_seconds: }). Absent values are nil.
      def self.session_state(input)
        hash = input[:hash]
        claims = input[:claims]
        return ended_reason(input) if hash.empty?
        return NotLive.new(:unknown_version) unless LAYOUT_VERSIONS.include?(hash['v'])

        max_expires_at = integer(hash['max_expires_at'])
        # A key without a TTL was recreated by a stray write after it ended: not a session.
        return NotLive.new(:no_session) if hash['user_id'] != claims[:user_id] || max_expires_at.nil? || input[:pttl] <= 0
        # Another client's session (or an unbound one's) is not this token's, nor is its policy.
        return NotLive.new(:no_session) if hash.key?('aud') && hash['aud'] != (claims[:aud] || '')

        # A cutoff that is not an integer (written by hand) ends every session; a hash from before
        # the field existed belongs to the generation of its creation (ms -> µs).
        cutoff_text = input[:cutoff]
        cutoff = cutoff_text.nil? ? 0 : integer(cutoff_text)
        generation = integer(hash['generation']) || ((integer(hash['created_at']) || 0) * 1000)
        if cutoff.nil? || (cutoff.positive? && generation < cutoff)
          at, reason, = input[:revocation]
          return revoked(!cutoff.nil? && at == cutoff_text ? reason : nil)
        end
        # The client whose ending applies is the hash's; a session from before the field has the token's
        # (an ending only shortens a life: its windows stay the global ones, below).
        ending_client = hash.key?('aud') ? hash['aud'] : claims[:aud]
        return revoked('client_ended') if present?(ending_client) && client_ended?(input[:client][2], integer(hash['created_at']) || 0)

        policy = policy_of(input)
        return NotLive.new(:max_age) if input[:now] >= policy[:ends_at]

        # Gatehouse always writes last_seen_at; one that is missing or not an integer is idle (fail closed).
        last_seen_at = integer(hash['last_seen_at'])
        return NotLive.new(:idle) if last_seen_at.nil? || input[:now] - last_seen_at > policy[:ttl_ms]

        nil
      end

      # The policy a session falls under, by its hash's aud: { kind: :client | :global, ttl_ms:, ends_at: }.
      def self.policy_of(input)
        hash = input[:hash]
        settings = input[:settings]
        global_ttl_ms = (valid_seconds(input[:session_ttl_seconds], settings[:max_age_seconds]) || settings[:default_ttl_seconds]) * 1000
        max_expires_at = integer(hash['max_expires_at']) || 0
        # No aud field (a session from before the field) or '' (an unbound token): the global policy.
        return { kind: :global, ttl_ms: global_ttl_ms, ends_at: max_expires_at } unless present?(hash['aud'])

        max_age, ttl = client_limits(input[:client], settings)
        ends_at = max_age ? [max_expires_at, (integer(hash['created_at']) || 0) + (max_age * 1000)].min : max_expires_at
        { kind: max_age || ttl ? :client : :global, ttl_ms: ttl ? ttl * 1000 : global_ttl_ms, ends_at: ends_at }
      end

      # Why a session whose hash is gone ended: its own ending if remembered, the user's last
      # revoke-all, its client's ending, its absolute end; with nothing remembered, idle.
      def self.ended_reason(input)
        claims = input[:claims]
        ended = input[:ended]
        return ended == 'logged_out' ? NotLive.new(:logged_out) : revoked(ended) unless ended.nil?

        cutoff_text = input[:cutoff]
        unless cutoff_text.nil?
          cutoff = integer(cutoff_text)
          return revoked(nil) if cutoff.nil?

          at, reason, kept = input[:revocation]
          return revoked(at == cutoff_text ? reason : nil) if cutoff.positive? && claims[:created_at] * 1000 < cutoff && claims[:jti] != kept
        end
        return revoked('client_ended') if claims[:aud] && client_ended?(input[:client][2], claims[:created_at])

        max_age, = client_limits(input[:client], input[:settings])
        ends_at = claims[:exp] * 1000
        ends_at = [ends_at, claims[:created_at] + (max_age * 1000)].min if max_age
        NotLive.new(input[:now] >= ends_at ? :max_age : :idle)
      end

      # A known cause, else none: a stored value that is not one is no cause.
      def self.revoked(cause)
        NotLive.new(:revoked, REVOKED_CAUSES.include?(cause) ? cause.to_sym : nil)
      end

      # Whole seconds as the contract writes them, 1..ceiling; nil when not valid (then ignored).
      def self.valid_seconds(text, ceiling)
        return nil unless text.is_a?(String) && TTL_SECONDS.match?(text)

        seconds = text.to_i
        seconds >= 1 && seconds <= ceiling ? seconds : nil
      end

      # A client's valid [max age, idle window], seconds: a window above the client's maximum age
      # (else SESSION_MAX_AGE_SECONDS) is ignored.
      def self.client_limits(client, settings)
        max_age = valid_seconds(client[1], settings[:max_age_seconds])
        [max_age, valid_seconds(client[0], max_age || settings[:max_age_seconds])]
      end

      # Whether ops ended the client's sessions created at created_at: before the cutoff, or every
      # one when the cutoff is not a time (fail closed).
      def self.client_ended?(ended_before, created_at)
        !ended_before.nil? && (!INTEGER.match?(ended_before) || created_at < ended_before.to_i)
      end

      def self.present?(value)
        value.is_a?(String) && !value.empty?
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

      def settings
        { default_ttl_seconds: @default_ttl_seconds, max_age_seconds: @max_age_seconds }
      end

      # The <prefix>config fields the rule reads: the global ones, and the policy of the token's
      # client if it is bound to one.
      def config_fields(audience)
        fields = %w[session_ttl_seconds untyped_tokens_until]
        fields += %W[client_ttl_seconds:#{audience} client_max_age_seconds:#{audience} client_ended_before:#{audience}] if audience
        fields
      end

      def read_state(claims)
        user_id = claims[:user_id]
        jti = claims[:jti]
        user_keys = ["#{@key_prefix}sess:{#{user_id}}:#{jti}", "#{@key_prefix}user:{#{user_id}}:cutoff",
                     "#{@key_prefix}ended:{#{user_id}}:#{jti}", "#{@key_prefix}user:{#{user_id}}:revoked"]
        reply, config = script_and_config(user_keys, "#{@key_prefix}config", config_fields(claims[:aud]))
        flat, cutoff, seconds, micros, pttl, ended, record = reply
        unless flat.is_a?(Array) && pttl.is_a?(Integer) && record.is_a?(Array) && config.is_a?(Array)
          raise Unavailable.new(:redis, 'an unexpected reply to the read script')
        end

        { hash: flat.each_slice(2).to_h, cutoff: cutoff, pttl: pttl, ended: ended,
          now: (seconds.to_i * 1000) + (micros.to_i / 1000),
          revocation: [record[0], record[1], record[2]],
          session_ttl_seconds: config[0], untyped_tokens_until: config[1],
          client: claims[:aud] ? config[2, 3] : [nil, nil, nil] }
      rescue ::Redis::BaseError, SystemCallError, IOError, SocketError => e
        raise Unavailable.new(:redis, e.message)
      end

      # The script's reply and the config fields: one script on a single Redis or Sentinel; on a
      # Cluster <prefix>config lives in another slot than the user's keys, so an HMGET beside it.
      def script_and_config(user_keys, config_key, fields)
        unless @cluster
          begin
            reply = run_script(user_keys + [config_key], fields)
            return [reply, reply.is_a?(Array) ? reply[7] : nil]
          rescue ::Redis::BaseError => e
            raise unless e.message.include?('CROSSSLOT')

            @cluster = true # a Cluster client that does not say so: read config beside the script from now on
          end
        end
        [run_script(user_keys, []), @redis.call('HMGET', config_key, *fields)]
      end

      def run_script(keys, argv)
        @redis.call('EVALSHA_RO', READ_SCRIPT_SHA, keys.length, *keys, *argv)
      rescue ::Redis::CommandError => e
        raise unless e.message.start_with?('NOSCRIPT')

        @redis.call('EVAL_RO', READ_SCRIPT, keys.length, *keys, *argv)
      end
    end
  end
end
