// Files embedded by the bundler (`with { type: "text" }` / `with { type: "file" }`).
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.mmdb" {
  const path: string;
  export default path;
}
declare module "*.svg" {
  const path: string;
  export default path;
}
