import MembersView from "./view";

// One exported page serves every organization id (api/webapp.py maps /orgs/<id>/members to it).
export function generateStaticParams() {
  return [{ org: "_" }];
}

export default function Page() {
  return <MembersView />;
}
