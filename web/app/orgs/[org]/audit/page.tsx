import AuditView from "./view";

// One exported page serves every organization id (api/webapp.py maps /orgs/<id>/audit to it).
export function generateStaticParams() {
  return [{ org: "_" }];
}

export default function Page() {
  return <AuditView />;
}
