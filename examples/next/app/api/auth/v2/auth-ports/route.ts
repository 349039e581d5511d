// Your own routes beside the auth endpoints: a route file wins over the catch-all.
export function GET() {
  return Response.json({ valid_ports: [8080, 8443] });
}
