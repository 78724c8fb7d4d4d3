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

  def test_cluster_a_client_that_does_not_say_it_is_one_switches_at_its_first_crossslot
    client = OpaqueClient.new(cluster)
    reader = reader(client)
    live, = session_on(cluster, 30_000)
    idle, = session_on(cluster, 120_000)
    assert_equal 'live', decision(reader.read(live)), 'the first read, after a CROSSSLOT'
    assert_equal 1, client.errors.count { |message| message.include?('CROSSSLOT') }
    assert_equal 3, client.scripts.first[2].to_i, 'the first script named the config key'
    assert_equal 'idle', decision(reader.read(idle))
    assert_equal 'live', decision(reader.read(live))
    # From the first CROSSSLOT on: the script on the user's slot, config with an HMGET beside it.
    assert_equal [2], client.scripts.drop(1).map { |command| command[2].to_i }.uniq
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
    assert_equal [3], client.scripts.map { |command| command[2].to_i }.uniq, 'the config key in the script every time'
    assert_empty client.errors
    assert_equal 3, client.sent.length
  end
end
