// The runtime's entry in the Kubeless runtime ConfigMap (kubeless-config,
// "runtime-images"): `jsonnet ruby.jsonnet` prints it.
{
  ID: 'ruby',
  depName: 'Gemfile',
  fileNameSuffix: '.rb',
  versions: [
    {
      name: 'ruby-bookworm',
      version: 'bookworm',
      images: [
        {
          phase: 'runtime',
          // Pin the digest of the image you push: registry/runtime-proxy-ruby@sha256:...
          image: 'registry.example/runtime-proxy-ruby:0.1.0',
          env: { FUNC_RUNTIME: 'ruby' },
        },
      ],
    },
  ],
}
