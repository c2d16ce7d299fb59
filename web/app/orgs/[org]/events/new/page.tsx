import NewEventView from "./view";

// One exported page serves every organization id (api/webapp.py maps /orgs/<id>/events/new to it).
export function generateStaticParams() {
  return [{ org: "_" }];
}

export default function Page() {
  return <NewEventView />;
}
