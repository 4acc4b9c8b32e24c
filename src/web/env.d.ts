// Vite's `?url` imports (the wasm backend's binaries): the bundler replaces each with the asset's URL.
declare module '*?url' {
  const url: string;
  export default url;
}
