# frozen_string_literal: true

require_relative 'test_helper'
require 'fileutils'
require 'tmpdir'

# A throwaway Redis Cluster of three primaries on free loopback ports (as scripts/test-cluster.mjs
# starts one), stopped and removed when the suite ends. Nothing here touches the shared Redis.
module ThrowawayCluster
  START_TIMEOUT = 30

  module_function

  def nodes
    @nodes ||= start
  end

  def start
    @dir = Dir.mktmpdir('gatehouse-rb-cluster-')
    @pids = []
    Minitest.after_run { stop }
    ports = Array.new(3) { free_port }
    ports.each do |port|
      @pids << Process.spawn('redis-server', '--port', port.to_s, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                             '--dir', @dir, '--cluster-enabled', 'yes', '--cluster-config-file', "nodes-#{port}.conf",
                             '--cluster-node-timeout', '2000', out: File::NULL, err: File::NULL)
    end
    wait_until('the redis-servers answer') { ports.all? { |port| cli(port, 'PING').strip == 'PONG' } }
    created = IO.popen(['redis-cli', '--cluster', 'create', *ports.map { |port| "127.0.0.1:#{port}" },
                        '--cluster-replicas', '0', '--cluster-yes'], err: %i[child out], &:read)
    raise "redis-cli --cluster create failed:\n#{created}" unless Process.last_status.success?

    wait_until('cluster_state:ok') { ports.all? { |port| cli(port, 'CLUSTER', 'INFO').include?('cluster_state:ok') } }
    ports.map { |port| "redis://127.0.0.1:#{port}" }
  end

  def stop
    @pids&.each do |pid|
      Process.kill('KILL', pid)
      Process.wait(pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end
    FileUtils.rm_rf(@dir) if @dir
  end

  # A free port whose cluster bus port (port + 10000) is free too.
  def free_port
    loop do
      port = 20_000 + rand(30_000)
      return port if [port, port + 10_000].all? { |p| port_free?(p) }
    end
  end

  def port_free?(port)
    TCPServer.new('127.0.0.1', port).close
    true
  rescue SystemCallError
    false
  end

  def cli(port, *args)
    IO.popen(['redis-cli', '-h', '127.0.0.1', '-p', port.to_s, *args], err: File::NULL, &:read)
  end

  def wait_until(what)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + START_TIMEOUT
    until yield
      raise "#{what}: not within #{START_TIMEOUT} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.2
    end
  end
end

# A client that forwards `call` and nothing else, so the reader cannot tell what it is talking to
# (as with redis-clustering, a connection pool or a proxy), and that records what was sent.
class OpaqueClient
  attr_reader :sent, :errors

  def initialize(redis)
    @redis = redis
    @sent = []
    @errors = []
  end

  def call(*command)
    @sent << command.map(&:to_s)
    @redis.call(*command)
  rescue Redis::BaseError => e
    @errors << e.message
    raise
  end

  def scripts
    @sent.select { |command| command[0].start_with?('EVAL') }
  end
end

# On a Redis Cluster <prefix>config is in another slot than the user's keys: the reader reads it
# beside the script, whether the client says it is a Cluster client or only a CROSSSLOT tells.
class ClusterTest < Minitest::Test
  KEY = OpenSSL::PKey.generate_key('ED25519')
  PREFIX = "gatehouse-test:rb-cluster-#{SecureRandom.hex(4)}:"
  # On the shared Redis: under the suite's prefix (deleted when it ends), a config of its own.
  SINGLE = "#{TestEnv::PREFIX}opaque:"

  def cluster
    @cluster ||= Redis.new(cluster: ThrowawayCluster.nodes, timeout: 5)
  end

  def reader(redis, prefix = PREFIX)
    Gatehouse::SessionReader::Reader.new(redis: redis, key_prefix: prefix, public_keys: [KEY.public_to_pem])
  end

  # A session last seen `idle_ms` ago, under a TTL of 60 s set by ops in <prefix>config: [token, user id].
  def session_on(redis, idle_ms, prefix = PREFIX)
    user_id = Mint.user_id
    jti = Mint.jti
    seconds, micros = redis.time
    now = (seconds * 1000) + (micros / 1000)
    key = "#{prefix}sess:{#{user_id}}:#{jti}"
    redis.mapped_hmset(key, 'v' => '3', 'user_id' => user_id, 'role' => 'user', 'created_at' => now.to_s,
                            'last_seen_at' => (now - idle_ms).to_s, 'max_expires_at' => (now + 3_600_000).to_s,
                            'generation' => (now * 1000).to_s)
    redis.pexpire(key, 1_200_000)
    redis.mapped_hmset("#{prefix}config", 'session_ttl_seconds' => '60')
    kid = Mint.ed25519_jwk(KEY)['kid']
    [Mint.token(Mint.header(kid, 'EdDSA'), Mint.claims(user_id, jti), key: KEY), user_id]
  end

  def decision(result)
    result.live? ? 'live' : result.reason.to_s
  end

  def test_cluster_a_cluster_client_reads_the_ttl_ops_set_in_another_slot
    assert_match(/CROSSSLOT/, assert_raises(Redis::CommandError) { cluster.call('EVAL_RO', 'return 1', 2, "#{PREFIX}sess:{a}:x", "#{PREFIX}config") }.message,
                 'the config key and a user\'s keys are in different slots')
    reader = reader(cluster)
    live, = session_on(cluster, 30_000)
    idle, = session_on(cluster, 120_000)
    assert_equal 'live', decision(reader.read(live))
    # Idle for 2 minutes: within the default 20, past the 60 s in <prefix>config.
    assert_equal 'idle', decision(reader.read(idle))
  end

  # A client's policy is in <prefix>config too (another slot): read beside the script with the global
  # fields; how a session ended is in the user's slot, read by the script.
  def test_cluster_a_client_policy_and_how_a_session_ended_are_read_on_a_cluster
    reader = reader(cluster)
    audience = "rb-cluster-#{SecureRandom.hex(4)}"
    kid = Mint.ed25519_jwk(KEY)['kid']
    seconds, micros = cluster.time
    now = (seconds * 1000) + (micros / 1000)
    tokens = Array.new(2) do
      user_id = Mint.user_id
      jti = Mint.jti
      key = "#{PREFIX}sess:{#{user_id}}:#{jti}"
      cluster.mapped_hmset(key, 'v' => '3', 'user_id' => user_id, 'role' => 'user', 'created_at' => (now - 200_000).to_s,
                                'last_seen_at' => (now - 120_000).to_s, 'max_expires_at' => (now + 3_600_000).to_s,
                                'generation' => '0', 'aud' => audience)
      cluster.pexpire(key, 1_200_000)
      [Mint.token(Mint.header(kid, 'EdDSA'), Mint.claims(user_id, jti, aud: audience), key: KEY), user_id, jti]
    end
    cluster.mapped_hmset("#{PREFIX}config", 'session_ttl_seconds' => '60', "client_ttl_seconds:#{audience}" => '600')
    live, = tokens[0]
    assert_equal 'live', decision(reader.read(live, audience: audience)), "idle 2 min: past the global 60 s, within the client's 10 min"
    session = reader.read(live, audience: audience)
    assert_equal [:client, 600_000], [session.policy, session.idle_timeout_ms]

    cluster.hset("#{PREFIX}config", "client_ended_before:#{audience}", (now - 100_000).to_s)
    ended = reader.read(live, audience: audience)
    assert_equal %i[revoked client_ended], [ended.reason, ended.cause], 'ops ended the client after the session was created'

    gone, user_id, jti = tokens[1]
    cluster.del("#{PREFIX}sess:{#{user_id}}:#{jti}")
    cluster.set("#{PREFIX}ended:{#{user_id}}:#{jti}", 'logged_out')
    assert_equal :logged_out, reader.read(gone, audience: audience).reason, 'its own logout, remembered in its user\'s slot'
  end

  def test_cluster_a_client_that_does_not_say_it_is_one_switches_at_its_first_crossslot
    client = OpaqueClient.new(cluster)
    reader = reader(client)
    live, = session_on(cluster, 30_000)
    idle, = session_on(cluster, 120_000)
    assert_equal 'live', decision(reader.read(live)), 'the first read, after a CROSSSLOT'
    assert_equal 1, client.errors.count { |message| message.include?('CROSSSLOT') }
    assert_equal 5, client.scripts.first[2].to_i, 'the first script named the config key'
    assert_equal 'idle', decision(reader.read(idle))
    assert_equal 'live', decision(reader.read(live))
    # From the first CROSSSLOT on: the script on the user's slot, config with an HMGET beside it.
    assert_equal [4], client.scripts.drop(1).map { |command| command[2].to_i }.uniq
    assert_equal 3, client.sent.count { |command| command[0] == 'HMGET' }
    assert_equal 1, client.errors.count { |message| message.include?('CROSSSLOT') }, 'never again'
  end

  def test_cluster_other_errors_are_not_taken_for_a_cluster
    # A single Redis that refuses the script (an unknown command) is unavailable, not a Cluster.
    client = OpaqueClient.new(TestEnv.redis)
    def client.call(*command)
      command[0].to_s.start_with?('EVAL') ? super('EVAL_RO_NO_SUCH_COMMAND', *command.drop(1)) : super
    end
    token, = session_on(TestEnv.redis, 0, SINGLE)
    error = assert_raises(Gatehouse::SessionReader::Unavailable) { reader(client, SINGLE).read(token) }
    assert_match(/unknown command/i, error.message)
    assert_equal 0, client.sent.count { |command| command[0] == 'HMGET' }
  end

  def test_cluster_a_single_redis_behind_an_opaque_client_stays_one_round_trip
    client = OpaqueClient.new(TestEnv.redis)
    reader = reader(client, SINGLE)
    live, = session_on(TestEnv.redis, 30_000, SINGLE)
    idle, = session_on(TestEnv.redis, 120_000, SINGLE)
    assert_equal %w[live idle live], [decision(reader.read(live)), decision(reader.read(idle)), decision(reader.read(live))]
    assert_equal [5], client.scripts.map { |command| command[2].to_i }.uniq, 'the config key in the script every time'
    assert_empty client.errors
    assert_equal 3, client.sent.length
  end
end
