# frozen_string_literal: true

require 'ipaddr'
require 'json'
require 'net/http'
require 'openssl'
require 'uri'

module Gatehouse
  module SessionReader
    # A public key from a JWKS or a PEM, with the one algorithm it verifies.
    PublicKey = Struct.new(:kid, :algorithm, :pkey) do
      def verify(signing_input, signature)
        case algorithm
        when 'EdDSA' then signature.bytesize == 64 && pkey.verify(nil, signature, signing_input)
        when 'RS256' then pkey.verify('SHA256', signature, signing_input)
        else false
        end
      rescue OpenSSL::PKey::PKeyError
        false
      end
    end

    # The keys tokens are verified with: JWKS/PEM public keys (EdDSA, RS256) and, only if the
    # caller opted in, shared HS256 secrets. A key is chosen by kid, never by alg, and verifies with
    # its own algorithm only.
    module Keys
      # SubjectPublicKeyInfo of an Ed25519 key, up to its 32 bytes (RFC 8410).
      ED25519_SPKI_PREFIX = ['302a300506032b6570032100'].pack('H*').freeze
      # Members only a private or symmetric JWK has: a JWKS that publishes one is misconfigured.
      PRIVATE_MEMBERS = %w[d p q dp dq qi oth k].freeze
      MIN_RSA_BITS = 2048
      MIN_SECRET_BYTES = 32

      module_function

      # The kid Gatehouse gives an HS256 secret: it names the secret without revealing it.
      def secret_kid(secret)
        Token.base64url_encode(OpenSSL::HMAC.digest('SHA256', secret, 'gatehouse key id'))[0, 16]
      end

      def ed25519_key(x_bytes)
        OpenSSL::PKey.read(ED25519_SPKI_PREFIX + x_bytes)
      end

      def rsa_key(n_bytes, e_bytes)
        rsa_public = OpenSSL::ASN1::Sequence([OpenSSL::ASN1::Integer(OpenSSL::BN.new(n_bytes, 2)),
                                              OpenSSL::ASN1::Integer(OpenSSL::BN.new(e_bytes, 2))])
        spki = OpenSSL::ASN1::Sequence([
                                         OpenSSL::ASN1::Sequence([OpenSSL::ASN1::ObjectId('rsaEncryption'), OpenSSL::ASN1::Null(nil)]),
                                         OpenSSL::ASN1::BitString(rsa_public.to_der)
                                       ])
        OpenSSL::PKey.read(spki.to_der)
      end

      # A signing key Gatehouse would publish (Ed25519, or RSA of at least 2048 bits; public parts
      # only), or nil: anything else in a JWKS is skipped.
      def from_jwk(jwk)
        return nil unless jwk.is_a?(Hash)

        kid = jwk['kid']
        return nil unless kid.is_a?(String) && !kid.empty? && kid.length <= 256
        return nil if jwk.key?('use') && jwk['use'] != 'sig'
        return nil if PRIVATE_MEMBERS.any? { |member| jwk.key?(member) }

        algorithm = if jwk['kty'] == 'OKP' && jwk['crv'] == 'Ed25519' then 'EdDSA'
                    elsif jwk['kty'] == 'RSA' then 'RS256'
                    end
        return nil if algorithm.nil? || (jwk.key?('alg') && jwk['alg'] != algorithm)

        if algorithm == 'EdDSA'
          x = Token.base64url_decode(jwk['x'])
          return nil unless x && x.bytesize == 32

          PublicKey.new(kid, algorithm, ed25519_key(x))
        else
          n = Token.base64url_decode(jwk['n'])
          e = Token.base64url_decode(jwk['e'])
          return nil if n.nil? || e.nil? || n.empty? || e.empty?

          pkey = rsa_key(n, e)
          pkey.n.num_bits >= MIN_RSA_BITS ? PublicKey.new(kid, algorithm, pkey) : nil
        end
      rescue OpenSSL::PKey::PKeyError, OpenSSL::ASN1::ASN1Error, OpenSSL::BNError
        nil
      end

      # A public key PEM, its kid the RFC 7638 thumbprint (the kid Gatehouse publishes).
      def from_pem(pem, kid = nil)
        raise ArgumentError, 'public_keys: give public keys (a private key does not belong in a service)' if pem.to_s.include?('PRIVATE KEY')

        pkey = OpenSSL::PKey.read(pem)
        if pkey.oid == 'ED25519'
          x = Token.base64url_encode(pkey.public_to_der[-32..])
          PublicKey.new(kid || thumbprint('crv' => 'Ed25519', 'kty' => 'OKP', 'x' => x), 'EdDSA', pkey)
        elsif pkey.is_a?(OpenSSL::PKey::RSA)
          raise ArgumentError, "public_keys: an RSA key must have at least #{MIN_RSA_BITS} bits" if pkey.n.num_bits < MIN_RSA_BITS

          jwk = { 'e' => Token.base64url_encode(pkey.e.to_s(2)), 'kty' => 'RSA', 'n' => Token.base64url_encode(pkey.n.to_s(2)) }
          PublicKey.new(kid || thumbprint(jwk), 'RS256', pkey)
        else
          raise ArgumentError, "public_keys: an Ed25519 or RSA public key, not #{pkey.oid}"
        end
      rescue OpenSSL::PKey::PKeyError => e
        raise ArgumentError, "public_keys: not a PEM public key (#{e.message})"
      end

      # RFC 7638: SHA-256 of the required members, in lexicographic order, without whitespace.
      def thumbprint(members)
        Token.base64url_encode(OpenSSL::Digest::SHA256.digest(JSON.generate(members.sort.to_h)))
      end

      # Keys from an RFC 7517 JWK Set (a Hash or its JSON), by kid.
      def from_jwks(jwks)
        jwks = JSON.parse(jwks) if jwks.is_a?(String)
        raise ArgumentError, 'jwks: a JWK Set, {"keys": [...]}' unless jwks.is_a?(Hash) && jwks['keys'].is_a?(Array)

        jwks['keys'].filter_map { |jwk| from_jwk(jwk.is_a?(Hash) ? jwk.transform_keys(&:to_s) : jwk) }.to_h { |key| [key.kid, key] }
      end

      def production?
        ENV['RACK_ENV'] == 'production' || ENV['RAILS_ENV'] == 'production'
      end

      LOOPBACK_V4 = IPAddr.new('127.0.0.0/8')
      LOOPBACK_V6 = IPAddr.new('::1')

      def loopback?(host)
        return true if host.casecmp?('localhost')

        ip = IPAddr.new(host)
        ip.ipv4? ? LOOPBACK_V4.include?(ip) : ip == LOOPBACK_V6
      rescue IPAddr::Error
        false
      end

      # https, or http to a loopback host outside production; anything else is refused here, at
      # configuration time: a JWKS read over plain http could be swapped on the way.
      def jwks_uri(url)
        uri = URI.parse(url.to_s)
        scheme = uri.scheme&.downcase
        host = uri.hostname
        raise ArgumentError, "jwks_url: #{url} has no host" if %w[http https].include?(scheme) && (host.nil? || host.empty?)

        case scheme
        when 'https' then uri
        when 'http'
          raise ArgumentError, "jwks_url: plain http is refused in production (#{url}); use https" if production?
          raise ArgumentError, "jwks_url: plain http only to a loopback host (#{url}); use https" unless loopback?(host)

          uri
        else
          raise ArgumentError, "jwks_url: only https (#{url})"
        end
      rescue URI::Error
        raise ArgumentError, "jwks_url: not a URL (#{url})"
      end
    end

    # Gatehouse's /.well-known/jwks.json, fetched when needed and kept for its Cache-Control
    # max-age (default 5 min, at most 1 h). Thread-safe: one fetch at a time.
    class RemoteJwks
      MAX_BYTES = 64 * 1024
      MAX_KEYS = 50
      DEFAULT_CACHE_SECONDS = 300
      MAX_CACHE_SECONDS = 3600

      # How many fetches were made (for tests and metrics).
      attr_reader :fetches

      def initialize(url, fetch_timeout: 5.0, min_refetch_interval: 5.0, max_stale: 3600.0)
        @uri = Keys.jwks_uri(url)
        @fetch_timeout = fetch_timeout
        @min_refetch_interval = min_refetch_interval
        @max_stale = max_stale
        @keys = {}.freeze
        @fetched_at = -Float::INFINITY
        @fresh_until = -Float::INFINITY
        @last_failure = nil
        @fetches = 0
        @lock = Mutex.new
      end

      # The key of a kid, or nil if the JWKS has none. Raises Unavailable when there is no current
      # key set to look in. Never more than one fetch per call.
      def find(kid)
        fetched = false
        seen = @fetched_at
        if now >= @fresh_until && now - @fetched_at >= @min_refetch_interval
          begin
            refresh(seen)
            fetched = true
          rescue Unavailable
            # Keys fetched earlier stay usable for a while: Gatehouse briefly unreachable should
            # not sign everyone out. Past that, nothing verifies.
            raise unless usable?
          end
        elsif now >= @fresh_until && !usable?
          raise Unavailable.new(:jwks, @last_failure || 'no current keys')
        end
        keys = @keys
        # An unknown kid: the keys may have been rotated. Refetch, but at most once per interval
        # (forged kids cannot flood Gatehouse), and not twice for one token.
        if !keys.key?(kid) && !fetched && now - @fetched_at >= @min_refetch_interval
          refresh(@fetched_at)
          keys = @keys
        end
        keys[kid]
      end

      private

      def now
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end

      def usable?
        !@keys.empty? && now - @fresh_until < @max_stale
      end

      # Fetches unless another thread did since `seen`; raises Unavailable on failure.
      def refresh(seen)
        @lock.synchronize do
          if @fetched_at != seen
            raise Unavailable.new(:jwks, @last_failure) if @last_failure && !usable?

            return
          end
          load
        end
      end

      def load
        @fetched_at = now # a failed attempt also counts against the refetch interval
        @fetches += 1
        begin
          body, cache_control = get
          document = JSON.parse(body)
          list = document.is_a?(Hash) ? document['keys'] : nil
          raise 'the JWKS has no keys array' unless list.is_a?(Array)
        rescue StandardError => e
          @last_failure = e.message
          raise Unavailable.new(:jwks, e.message)
        end
        @keys = list.first(MAX_KEYS).filter_map { |jwk| Keys.from_jwk(jwk) }.to_h { |key| [key.kid, key] }.freeze
        @fresh_until = @fetched_at + cache_seconds(cache_control)
        @last_failure = nil
      end

      # One deadline for the whole exchange, the body included; no redirect followed; at most
      # MAX_BYTES read.
      def get
        deadline = now + @fetch_timeout
        http = Net::HTTP.new(@uri.hostname, @uri.port, nil) # no proxy from the environment
        http.use_ssl = @uri.scheme.casecmp?('https')
        http.open_timeout = http.read_timeout = http.write_timeout = http.ssl_timeout = @fetch_timeout
        body = +''.b
        cache_control = nil
        http.start do |connection|
          request = Net::HTTP::Get.new(@uri.request_uri, 'accept' => 'application/json')
          connection.request(request) do |response|
            raise "GET #{@uri} answered #{response.code}" unless response.code.to_i.between?(200, 299)
            raise "the answer is larger than #{MAX_BYTES} bytes" if response['content-length'].to_i > MAX_BYTES

            cache_control = response['cache-control']
            response.read_body do |chunk|
              body << chunk
              raise "the answer is larger than #{MAX_BYTES} bytes" if body.bytesize > MAX_BYTES
              raise "no answer within #{@fetch_timeout} s" if now > deadline
            end
          end
        end
        [body.force_encoding(Encoding::UTF_8), cache_control]
      end

      def cache_seconds(cache_control)
        match = /(?:^|,)\s*max-age=(\d+)/i.match(cache_control.to_s)
        return DEFAULT_CACHE_SECONDS unless match

        [match[1].to_i, MAX_CACHE_SECONDS].min
      end
    end
  end
end
