# A Kubeless-style function server for Ruby: Sinatra on WEBrick, which gives
# every connection its own thread, so calls run in parallel.
#
# Environment:
#   MOD_NAME       file to load, without ".rb", from KUBELESS_DIR (required)
#   FUNC_HANDLER   top-level method of that file to call (required)
#   KUBELESS_DIR   directory of the function (default /kubeless)
#   RUNTIME_PORT   port on 127.0.0.1 (default 8090, where the proxy forwards)
#   FUNC_TIMEOUT, FUNC_RUNTIME, FUNC_MEMORY_LIMIT   passed to the function in context
#   SHUTDOWN_TIMEOUT   seconds calls in flight get after SIGTERM/SIGINT (default 10)
#
# GET/POST/... on any path but /healthz calls handler(event, context); the
# result is the body (a String as is, anything else as JSON, nil as nothing).
# An exception answers 500 with its message and the server keeps running.
# Timeouts are left to the proxy in front. One line per request on stdout:
#   2024/05/01 12:00:00 GET /path?q=1 200
require 'json'
require 'securerandom'
require 'time'
require 'webrick'
require 'sinatra/base'

$stdout.sync = true

module Kubeless
  def self.setting(name, default = nil)
    value = ENV[name]
    value.nil? || value.empty? ? default : value
  end

  MOD_NAME = setting('MOD_NAME') or abort('kubeless.rb: MOD_NAME is not set')
  HANDLER = setting('FUNC_HANDLER') or abort('kubeless.rb: FUNC_HANDLER is not set')
  FUNCTION_FILE = File.join(setting('KUBELESS_DIR', '/kubeless'), "#{MOD_NAME}.rb")
  PORT = Integer(setting('RUNTIME_PORT', '8090'), 10)

  CONTEXT = {
    'function-name' => MOD_NAME,
    'timeout' => setting('FUNC_TIMEOUT', '180'),
    'runtime' => setting('FUNC_RUNTIME', "ruby#{RUBY_VERSION[/\A\d+\.\d+/]}"),
    'memory-limit' => setting('FUNC_MEMORY_LIMIT')
  }.freeze

  # The function's top-level methods become private methods of Object; they
  # are called on this bare object so no server method can shadow them.
  RECEIVER = Object.new

  def self.load_function
    Kernel.load(FUNCTION_FILE)
    return if Object.private_method_defined?(HANDLER) || Object.method_defined?(HANDLER)

    abort("kubeless.rb: #{FUNCTION_FILE} defines no method #{HANDLER}")
  rescue LoadError, SyntaxError, StandardError => e
    abort("kubeless.rb: cannot load #{FUNCTION_FILE}: #{e.class}: #{e.message}")
  end

  def self.event_for(request)
    request.body.rewind
    body = request.body.read
    request.body.rewind
    data = body
    if request.media_type.to_s =~ %r{\Aapplication/(.+\+)?json\z}i && !body.empty?
      data = begin
        JSON.parse(body)
      rescue JSON::ParserError
        body
      end
    end
    {
      'data' => data,
      'event-id' => header(request, 'event-id') || SecureRandom.hex(11),
      'event-type' => header(request, 'event-type') || 'application/json',
      'event-time' => header(request, 'event-time') || Time.now.utc.strftime('%Y-%m-%d %H:%M:%S +0000 UTC'),
      'event-namespace' => header(request, 'event-namespace') || 'cli.kubeless.io',
      'extensions' => { 'request' => request }
    }
  end

  def self.header(request, name)
    value = request.get_header("HTTP_#{name.upcase.tr('-', '_')}")
    value.nil? || value.empty? ? nil : value
  end

  # Writes one line per request, once its status is known.
  class RequestLog
    def initialize(app)
      @app = app
    end

    def call(env)
      status, headers, body = @app.call(env)
      target = env['PATH_INFO'].to_s
      target += "?#{env['QUERY_STRING']}" unless env['QUERY_STRING'].to_s.empty?
      $stdout.puts("#{Time.now.strftime('%Y/%m/%d %H:%M:%S')} #{env['REQUEST_METHOD']} #{target} #{status}")
      [status, headers, body]
    end
  end

  class Server < Sinatra::Base
    set :environment, :production
    set :server, 'webrick'
    set :bind, '127.0.0.1'
    set :port, PORT
    set :server_settings, { AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN) }
    set :protection, false
    set :logging, false
    set :show_exceptions, false
    set :raise_errors, false
    set :quiet, true
    set :traps, false
    use RequestLog

    %w[get post put patch delete options link unlink].each do |verb|
      send(verb, '*') do
        if request.path_info == '/healthz'
          content_type 'text/plain'
          next 'OK'
        end
        call_function
      end
    end

    def call_function
      result = RECEIVER.__send__(HANDLER, Kubeless.event_for(request), CONTEXT)
      if result.is_a?(String)
        content_type 'text/plain'
        result
      elsif result.nil?
        content_type 'text/plain'
        ''
      else
        content_type 'application/json'
        JSON.generate(result)
      end
    rescue StandardError, ScriptError, SystemStackError => e
      $stderr.puts("kubeless.rb: #{HANDLER} raised #{e.class}: #{e.message}")
      content_type 'text/plain'
      status 500
      "#{e.message}\n"
    end
  end
end

# WEBrick waits for every call in flight before it stops, and a function that
# never returns would keep the process alive forever: on SIGTERM or SIGINT,
# calls get SHUTDOWN_TIMEOUT seconds (default 10) to finish, then it exits.
%w[INT TERM].each do |signal|
  Signal.trap(signal) do
    Thread.new do
      Kubeless::Server.quit!
      sleep(Float(Kubeless.setting('SHUTDOWN_TIMEOUT', '10')))
      $stderr.puts('kubeless.rb: calls still running at shutdown; exiting')
      exit!(1)
    end
  end
end

Kubeless.load_function
Kubeless::Server.run!
