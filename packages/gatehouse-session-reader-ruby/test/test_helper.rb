# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path('../lib', __dir__))
require 'minitest/autorun'
require 'json'
require 'net/http'
require 'securerandom'
require 'socket'
require 'gatehouse/session_reader'

# What the tests run against, from the environment test/reader/ruby.test.ts sets: the shared Redis
# (the tests' keys under a prefix of their own, deleted at the end) and, for the tests through a
# real Gatehouse, its URL, key prefix and an admin's credentials.
module TestEnv
  REDIS_URL = ENV.fetch('GATEHOUSE_TEST_REDIS_URL', 'redis://127.0.0.1:6379')
  PREFIX = ENV.fetch('GATEHOUSE_TEST_PREFIX', "gatehouse-test:rb-#{SecureRandom.hex(6)}:")
  ROOT = File.expand_path('../../..', __dir__)
  CASES_FILE = File.join(ROOT, 'contract/fixtures/reading-cases.json')

  module_function

  # A client of the tests' own, for writing what a case needs (the gem only reads).
  def redis
    @redis ||= Redis.new(url: REDIS_URL)
  end

  def redis_now_ms
    seconds, micros = redis.time
    (seconds * 1000) + (micros / 1000)
  end

  def gatehouse_url
    ENV['GATEHOUSE_URL']
  end

  # A port nothing listens on: bound, then released.
  def closed_port
    server = TCPServer.new('127.0.0.1', 0)
    port = server.addr[1]
    server.close
    port
  end

  def delete_keys(prefix)
    redis.scan_each(match: "#{prefix}*", count: 1000).each_slice(500) { |keys| redis.del(*keys) }
  end
end

Minitest.after_run { TestEnv.delete_keys(TestEnv::PREFIX) }

# Requests to the real Gatehouse the tap test started, as a client makes them.
module GatehouseApi
  PASSWORD = 'correct horse battery'

  module_function

  def request(method, path, token: nil, body: nil, headers: {})
    uri = URI.join(TestEnv.gatehouse_url, path)
    request = Net::HTTP.const_get(method.capitalize).new(uri, headers)
    request['authorization'] = "Token token=#{token}" if token
    if body
      request['content-type'] = 'application/json'
      request.body = JSON.generate(body)
    end
    Net::HTTP.start(uri.hostname, uri.port, nil, open_timeout: 5, read_timeout: 20) { |http| http.request(request) }
  end

  def json(response)
    response.body.nil? || response.body.empty? ? nil : JSON.parse(response.body)
  end

  def email
    "rb-#{SecureRandom.hex(6)}@#{ENV.fetch('GATEHOUSE_EMAIL_DOMAIN')}"
  end

  # A new user and a session of theirs: [user id, token, email].
  def new_session
    address = email
    created = request('post', '/users', body: { email: address, password: PASSWORD })
    raise "sign-up: #{created.code} #{created.body}" unless created.code == '201'

    [json(created)['user']['id'], login(address), address]
  end

  def login(address, password = PASSWORD)
    response = request('post', '/sessions', body: { email: address, password: password })
    raise "login: #{response.code} #{response.body}" unless response.code == '201'

    json(response)['token']
  end
end

# Tokens and sessions made here, for tests where only the keys or the claims vary.
module Mint
  module_function

  def b64(bytes)
    Gatehouse::SessionReader::Token.base64url_encode(bytes)
  end

  # A compact JWS over `header` and `payload`: an HMAC with `secret`, else a signature by `key`.
  def token(header, payload, key: nil, secret: nil)
    input = "#{b64(JSON.generate(header))}.#{b64(JSON.generate(payload))}"
    signature = if secret then OpenSSL::HMAC.digest('SHA256', secret, input)
                elsif key.oid == 'ED25519' then key.sign(nil, input)
                else key.sign('SHA256', input)
                end
    "#{input}.#{b64(signature)}"
  end

  def user_id
    SecureRandom.uuid
  end

  def jti
    b64(SecureRandom.random_bytes(16))
  end

  def claims(user_id, jti, **extra)
    now = Time.now.to_i
    { jti: jti, user_id: user_id, created_at: now * 1000, iat: now, exp: now + 3600, iss: 'gatehouse' }.merge(extra)
  end

  def header(kid, alg)
    { alg: alg, typ: 'gatehouse-session+jwt', kid: kid }
  end

  # A layout-3 session hash as Gatehouse writes it, last seen now.
  def session(prefix, user_id, jti, ttl_ms: 1_200_000)
    now = TestEnv.redis_now_ms
    key = "#{prefix}sess:{#{user_id}}:#{jti}"
    TestEnv.redis.mapped_hmset(key, 'v' => '3', 'user_id' => user_id, 'role' => 'user', 'created_at' => now.to_s,
                                    'last_seen_at' => now.to_s, 'max_expires_at' => (now + 3_600_000).to_s, 'client' => 'test',
                                    'user_agent' => 'minitest', 'ip' => '127.0.0.1', 'email' => 'x@example.com',
                                    'user_created_at' => now.to_s, 'generation' => (now * 1000).to_s)
    TestEnv.redis.pexpire(key, ttl_ms)
  end

  def ed25519_jwk(key, kid = nil)
    x = b64(key.public_to_der[-32..])
    members = { 'crv' => 'Ed25519', 'kty' => 'OKP', 'x' => x }
    members.merge('kid' => kid || Gatehouse::SessionReader::Keys.thumbprint(members), 'alg' => 'EdDSA', 'use' => 'sig')
  end

  def rsa_jwk(key, kid = nil)
    members = { 'e' => b64(key.e.to_s(2)), 'kty' => 'RSA', 'n' => b64(key.n.to_s(2)) }
    members.merge('kid' => kid || Gatehouse::SessionReader::Keys.thumbprint(members), 'alg' => 'RS256', 'use' => 'sig')
  end
end

# A Rack app behind a real WEBrick server on a port of its own, until `stop`.
class RackServer
  require 'rack'
  require 'webrick'

  attr_reader :port

  def initialize(app)
    @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
    @server.mount('/', Rack::Handler::WEBrick, app)
    @port = @server.listeners.first.addr[1]
    @thread = Thread.new { @server.start }
  end

  def url(path = '/')
    "http://127.0.0.1:#{@port}#{path}"
  end

  def request(method, path, headers = {})
    uri = URI(url(path))
    request = Net::HTTP.const_get(method.capitalize).new(uri, headers)
    Net::HTTP.start(uri.hostname, uri.port, nil, open_timeout: 5, read_timeout: 20) { |http| http.request(request) }
  end

  def stop
    @server.shutdown
    @thread.join(5)
  end
end
