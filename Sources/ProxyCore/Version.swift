/// The release version, in `--version` and `runtime_proxy_build_info`.
public let runtimeProxyVersion = "0.1.0"
