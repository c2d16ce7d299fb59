import { Suspense } from "react";
import { Loading } from "@/components/States";
import "../../orgs/orgs.css";
import AcceptInvite from "./view";

// The link an invite carries: /invites/accept?token=… (the query is read in the browser).
export default function Page() {
  return (
    <section>
      <h1>Invitation</h1>
      <Suspense fallback={<Loading />}><AcceptInvite /></Suspense>
    </section>
  );
}
