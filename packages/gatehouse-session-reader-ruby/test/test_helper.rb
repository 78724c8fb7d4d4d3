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
