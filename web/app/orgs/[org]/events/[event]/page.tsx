import ManageEventView from "./view";

// One exported page serves every organization and event id (api/webapp.py maps /orgs/<id>/events/<id> to it).
export function generateStaticParams() {
  return [{ org: "_", event: "_" }];
}

export default function Page() {
  return <ManageEventView />;
}
