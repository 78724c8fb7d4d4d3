# frozen_string_literal: true

require 'openssl'
require_relative 'strict_json'

module Gatehouse
  module SessionReader
    # What a Gatehouse token is beyond its signature (docs/session-contract.md, "Token"; the Node
    # library's token.ts): the compact form, the claims, the type, the issuer, the audience.
    module Token
      TOKEN_TYPE = 'gatehouse-session+jwt'
      # The typ fast-jwt wrote before tokens were typed; such tokens carry no iss and no aud.
      UNTYPED_TYPE = 'JWT'
      DEFAULT_ISSUER = 'gatehouse'
      SESSION_ID = /\A[A-Za-z0-9_-]{22}\z/.freeze
      # Lower-case only: Redis key names are built from it; another spelling names other keys.
      USER_ID = /\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/.freeze
      AUDIENCE = %r{\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}\z}.freeze
      REQUIRED_CLAIMS = %w[jti user_id created_at iat exp].freeze
      BASE64URL = /\A[A-Za-z0-9_-]*\z/.freeze
      MAX_SAFE_INTEGER = (2**53) - 1
      BOM = "\xEF\xBB\xBF".b.freeze

      module_function

      # base64url as Node's Buffer.from(text, 'base64url') reads it, which Gatehouse and the Node
      # library use: no padding and nothing outside the alphabet, but the unused low bits of the
      # last character are ignored (the bytes are the same). nil if not base64url.
      def base64url_decode(text)
        return nil unless text.is_a?(String) && BASE64URL.match?(text) && text.length % 4 != 1

        padded = text.tr('-_', '+/')
        padded += '=' * ((4 - (padded.length % 4)) % 4)
        padded.unpack1('m') # the alphabet is checked above; 'm0' would refuse stray low bits
      end

      def base64url_encode(bytes)
        [bytes].pack('m0').tr('+/', '-_').delete('=')
      end

      # A JSON object (RFC 8259, as JavaScript's JSON.parse reads it) in strict UTF-8 (a
      # byte-order mark makes it invalid), or nil.
      def json_object(bytes)
        return nil if bytes.nil? || bytes.start_with?(BOM)

        text = bytes.dup.force_encoding(Encoding::UTF_8)
        return nil unless text.valid_encoding?

        value = StrictJson.parse(text)
        value.is_a?(Hash) ? value : nil
      rescue StrictJson::ParseError, EncodingError
        nil
      end

      # [header, payload, signing input, signature] of a compact JWS, or nil if it is not one.
      def decode(token)
        return nil unless token.is_a?(String) && !token.empty? && token.length <= Credentials::MAX_TOKEN_LENGTH

        parts = token.b.split('.', -1)
        return nil unless parts.length == 3

        header = json_object(base64url_decode(parts[0]))
        payload = json_object(base64url_decode(parts[1]))
        signature = base64url_decode(parts[2])
        return nil if header.nil? || payload.nil? || signature.nil?

        [header, payload, "#{parts[0]}.#{parts[1]}".b, signature]
      end

      def number?(value)
        value.is_a?(Integer) || value.is_a?(Float)
      end

      # Number.isSafeInteger: 1.0 is the integer 1 (JSON does not tell them apart).
      def safe_integer?(value)
        case value
        when Integer then value.abs <= MAX_SAFE_INTEGER
        when Float then value.finite? && value == value.floor && value.abs <= MAX_SAFE_INTEGER
        else false
        end
      end

      # After the signature, in fast-jwt's order as Gatehouse verifies: the required claims, nbf,
      # exp. :invalid_token, :max_age, or nil when they pass.
      def time_claims_failure(payload, now_ms)
        return :invalid_token unless REQUIRED_CLAIMS.all? { |claim| payload.key?(claim) }

        if payload.key?('nbf')
          return :invalid_token unless number?(payload['nbf']) && payload['nbf'] * 1000 <= now_ms
        end
        return :invalid_token unless number?(payload['exp'])
        return :max_age if now_ms > payload['exp'] * 1000

        nil
      end

      # The session claims of a verified token of this issuer (symbol keys, integers as Integer,
      # :untyped true for a token from before typing), or nil.
      def session_claims(header, payload, issuer:, accept_untyped:)
        if header['typ'] == TOKEN_TYPE
          return nil unless payload['iss'] == issuer
          return nil if payload.key?('aud') && !(payload['aud'].is_a?(String) && AUDIENCE.match?(payload['aud']))

          untyped = false
        elsif accept_untyped && header['typ'] == UNTYPED_TYPE && !payload.key?('iss') && !payload.key?('aud')
          untyped = true
        else
          return nil
        end
        jti = payload['jti']
        user_id = payload['user_id']
        return nil unless jti.is_a?(String) && SESSION_ID.match?(jti) && user_id.is_a?(String) && USER_ID.match?(user_id)
        return nil unless %w[created_at iat exp].all? { |claim| safe_integer?(payload[claim]) }

        { jti: jti, user_id: user_id, created_at: payload['created_at'].to_i, iat: payload['iat'].to_i,
          exp: payload['exp'].to_i, iss: payload['iss'], aud: payload['aud'], untyped: untyped, payload: payload }
      end
    end
  end
end
